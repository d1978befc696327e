"""The web side of the service: pages, chat, admin; server-rendered Jinja2."""
