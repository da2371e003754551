FROM alpine
RUN echo <<EOF
hello
EOF
