#!/bin/sh
# Creates hashgate's topics before any worker starts (the compose `kafka-init` service).
# GENERATED from the topic registry (streams/events/topics.py) by
# `hashgate schemas topics-script --write deploy/create-topics.sh`: do not edit.
#
# Broker auto-creation would give each topic the broker's defaults (partition count, no
# compaction, its retention), so every topic is made explicitly, idempotently
# (--if-not-exists), with the settings it is declared with.
#
# Environment: BOOTSTRAP, PARTITIONS, REPLICATION_FACTOR, KAFKA_BIN (folder of
# kafka-topics.sh, default /opt/kafka/bin).
set -eu

: "${BOOTSTRAP:?}" "${PARTITIONS:?}" "${REPLICATION_FACTOR:?}"
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"

create() {
    topic="$1"
    shift
    "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --create \
        --if-not-exists --topic "$topic" --partitions "$PARTITIONS" \
        --replication-factor "$REPLICATION_FACTOR" "$@"
}

create content.uploads
create content.rescans
create content.rescans.status --config cleanup.policy=compact
create content.rescans.progress --config retention.ms=2592000000
create content.scan.retries
create content.verdicts.match
create content.verdicts.clear
create content.verdicts.latest --config cleanup.policy=compact
create content.scan.errors
create content.scan.errors.replayed --config cleanup.policy=compact
create moderation.actions
create reports.review
create reports.decisions
create reports.outcomes
create reports.audit
create stats.matches --config cleanup.policy=compact
create downstream.errors
create hashgate.cache.answers --config cleanup.policy=compact,delete --config retention.ms=2592000000
create hashgate.banks --config cleanup.policy=compact
echo "hashgate topics ready"
