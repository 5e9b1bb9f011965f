"""The Textual app: the key table, help, messages, and one widget module per panel."""
