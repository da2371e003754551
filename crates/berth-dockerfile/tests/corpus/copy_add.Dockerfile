FROM alpine
COPY ["a b", "c", "/dest/"]
ADD --chown=app src.tar.gz /opt/
COPY --chown="app user" x /y
