-- config.load returns nil, nil here (and nil, <table> for error({})): callers that print err
-- get "nil". The contract is cfg | nil, err with err a string naming file:line.
error()
