"""The review desk: the reporting agent's authenticated web console for the NCMEC review gate.

Reviewers log in (built-in argon2 accounts or a trusted reverse proxy), work a queue of pending
reports, look at the match evidence with the image blurred and in grayscale until they reveal
it, and approve or reject. Every login, reveal and decision is an audit event.
"""
