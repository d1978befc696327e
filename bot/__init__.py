"""The service shell: HTTP and web chat, mail in and out, scheduler, persistence, commands.

It loads state, calls the pure cores (``conversations``, ``scoring``), stores the result
and delivers; it decides nothing the cores can decide.
"""
