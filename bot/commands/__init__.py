"""Sub-commands of ``assessbot``, one module each; see ``bot.cli``."""
