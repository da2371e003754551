# comment
ARG X=1

RUN echo before from
