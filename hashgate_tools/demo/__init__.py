"""``make demo``: hashgate end to end on one machine, in about a minute.

A local Kafka broker, the PhotoDNA simulator and one scan worker are started as real processes;
the demo publishes uploads from three tenants (a few of them benign "known" images, a few bad
records), shows each verdict or DLQ record as it arrives, prints a summary and stops everything
it started, also on Ctrl-C. ``python -m hashgate_tools.demo --help`` lists the options.
"""
