# The whole andon binary: `andon serve` (the default command) and the rest of the CLI.
# The containers runtime starts its simulators from the smaller andon-simulator image.
# Built by ci/images.sh from a statically linked binary; nothing is pulled. reqwest is
# built without TLS, so no CA bundle is needed; Docker provides /dev/urandom, /etc/hosts
# and /etc/resolv.conf.
FROM scratch
COPY andon /andon
COPY root/ /
EXPOSE 8080
ENTRYPOINT ["/andon"]
CMD ["serve", "--bind", "0.0.0.0"]
