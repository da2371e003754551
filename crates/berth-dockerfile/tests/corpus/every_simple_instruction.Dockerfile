FROM alpine
ARG A B=2 C="x y"
WORKDIR /app dir
USER 1000:1000
EXPOSE 80/tcp 443 ${PORT}
VOLUME ["/data", "/logs"]
VOLUME /a /b
STOPSIGNAL SIGTERM
MAINTAINER Jane Doe <jane@example.com>
SHELL ["/bin/bash", "-c"]
