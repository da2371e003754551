FROM alpine
ONBUILD RUN make
ONBUILD COPY --chown=1:1 . /src
onbuild ENV A=1
