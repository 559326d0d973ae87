# The run's MQTT broker in the containers runtime: Mosquitto 2.0 from the Debian package,
# with the libraries it links at their paths (ci/images.sh copies them; nothing is pulled).
# andon mounts the run's broker directory at /mosquitto and starts it with the
# configuration it wrote there (listener 1883, persistence and log in /mosquitto).
FROM scratch
COPY root/ /
EXPOSE 1883
ENTRYPOINT ["/usr/sbin/mosquitto"]
CMD ["-c", "/mosquitto/mosquitto.conf"]
