# Toxiproxy in a container: the statically linked server and nothing else.
FROM scratch
COPY toxiproxy-server /toxiproxy-server
ENTRYPOINT ["/toxiproxy-server"]
CMD ["-host", "0.0.0.0", "-port", "8474"]
