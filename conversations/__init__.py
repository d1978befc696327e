"""The channel-agnostic dialogue engine and the questionnaire model it runs.

Pure and synchronous: no I/O, no async, nothing from ``bot``. Channels (mail, web chat,
command line) turn their input into turns and render the engine's replies.
"""
