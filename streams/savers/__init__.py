"""Quota savers: answers that spare a PhotoDNA call, each traceable to one it made or a bank entry.

``cache`` repeats PhotoDNA's last answer for byte-identical images, ``banks`` matches the bytes
against the platform's own hash lists, ``matcher`` puts both in front of PhotoDNA.
"""
