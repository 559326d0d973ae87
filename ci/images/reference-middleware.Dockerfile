# The bundled reference middleware (`andon reference-sut`), from the same static binary.
# Its durable outbox lives in DATA_DIR (default /data), which survives `docker restart`.
FROM scratch
COPY andon /andon
COPY root/ /
ENV HOST=0.0.0.0 DATA_DIR=/data
EXPOSE 8080
ENTRYPOINT ["/andon", "reference-sut"]
CMD ["--port", "8080"]
