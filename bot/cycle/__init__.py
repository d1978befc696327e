"""The national cycle: launch, the coordinator's appointment, the deadline, reopening, status.

``launch`` mails every organisation in scope: the first section to a known coordinator,
otherwise a letter asking management to appoint one (``appoint`` reads their reply);
``deadline`` closes the responses at the end of the deadline day and reopens one
organisation on an administrator's word; ``status`` counts where every organisation
stands and exports it; ``times`` turns a cycle's calendar days into moments in
``ASSESSBOT_TIMEZONE``. The reminder plan in between is ``bot.reminders``; the scheduler of
``serve`` (``bot.scheduler``) runs the deadline and the reminders unattended.
"""
