from alpine
run echo lower
Cmd ["sh"]
