FROM alpine
RUN apt-get update \
# a comment inside
    && apt-get install -y \

      curl   \   
      git
RUN next
