FROM alpine
ENV A=1 B="two words" C=three\ words
ENV LEGACY value with   spaces
ENV D=${A}x E='$raw'
LABEL maintainer="me" "com.example.quoted key"="v" version=1
LABEL legacy label value
