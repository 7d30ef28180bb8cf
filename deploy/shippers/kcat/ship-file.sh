#!/usr/bin/env bash
# Send a file's lines (or stdin) to Kafka as one log source, with kcat (Debian package `kcat`).
#
# Identity: the topic. Records go to `soc.raw.<source-id>`; the normalize worker subscribes to
# `soc.raw.*` by pattern and stamps each record with that source (unit and system from the
# registry). Kafka ACLs decide who may write to which topic (one principal per host or source).
# Delivery: -X acks=all and kcat's exit code (non-zero when a message was not delivered).
#
#   ship-file.sh BOOTSTRAP SOURCE_ID [FILE] [TOPIC_PREFIX]
#   ship-file.sh kafka1:9092 web01-auth /var/log/auth.log
set -euo pipefail
bootstrap=${1:?bootstrap servers}
source_id=${2:?source id}
file=${3:--}
prefix=${4:-}
args=(-P -b "$bootstrap" -t "${prefix}soc.raw.${source_id}" -X acks=all -X enable.idempotence=true)
if [ "$file" = - ]; then exec kcat "${args[@]}"; else exec kcat "${args[@]}" -l "$file"; fi
