#!/bin/sh
# Container defaults for the service this image was built for (LOOKOUT_SERVICE), then the command.
# Settings default to 127.0.0.1, which no other container can reach: listen on every interface
# unless LOOKOUT_<SERVICE>_HOST says otherwise.
set -eu
prefix="LOOKOUT_$(printf '%s' "${LOOKOUT_SERVICE}" | tr '[:lower:]' '[:upper:]')"
case "${prefix}" in
    *[!A-Z0-9_]*) echo "bad LOOKOUT_SERVICE: ${LOOKOUT_SERVICE}" >&2; exit 64 ;;
esac
eval "export ${prefix}_HOST=\"\${${prefix}_HOST:-0.0.0.0}\""
exec "$@"
