-- POSTs /messages/add into a random chat of FIRST..LAST; AUTHOR must be a member of each.
-- wrk -s messages_random.lua URL -- FIRST LAST AUTHOR
local headers = { ["Content-Type"] = "application/json" }
local first, last, author
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  first, last, author = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
  math.randomseed(os.time() * 1000 + (tid or 0))
end

function request()
  local body = string.format(
    '{"chat":%d,"author":%d,"text":"hello from wrk"}', math.random(first, last), author
  )
  return wrk.format("POST", "/messages/add", headers, body)
end
