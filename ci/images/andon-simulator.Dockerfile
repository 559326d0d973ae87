# One simulator (`andon-simulator SYSTEM`): the simulators alone, without the harness,
# cucumber or the Docker client; the image the containers runtime starts every simulator
# from. Built by ci/images.sh from a statically linked binary (release: the size-tuned
# `image` profile); nothing is pulled. Docker provides /dev/urandom, /etc/hosts and
# /etc/resolv.conf.
FROM scratch
COPY andon-simulator /andon-simulator
COPY root/ /
EXPOSE 8080
ENTRYPOINT ["/andon-simulator"]
CMD ["--help"]
