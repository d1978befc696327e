"""The mail channel: composing and queuing mail out, reading mail in."""
