#!/bin/sh
# Creates hashgate's topics before any worker starts (the compose `kafka-init` service).
#
# Broker auto-creation would give each topic the broker's default partition count and no
# compaction; the workers' throughput depends on the partition count and the "latest verdict"
# topic must be compacted, so the topics are made explicitly, idempotently (--if-not-exists).
#
# Environment: BOOTSTRAP, PARTITIONS, REPLICATION_FACTOR, TOPICS (space-separated),
# COMPACTED_TOPICS (space-separated, optional), KAFKA_BIN (folder of kafka-topics.sh).
set -eu

: "${BOOTSTRAP:?}" "${PARTITIONS:?}" "${REPLICATION_FACTOR:?}" "${TOPICS:?}"
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"

create() {
    topic="$1"
    shift
    "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
        --topic "$topic" --partitions "$PARTITIONS" --replication-factor "$REPLICATION_FACTOR" "$@"
}

for topic in $TOPICS; do
    create "$topic"
done
for topic in ${COMPACTED_TOPICS:-}; do
    create "$topic" --config cleanup.policy=compact
done
echo "hashgate topics ready"
