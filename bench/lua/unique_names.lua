-- POSTs TEMPLATE with NAME replaced by a name unique to this run (users/add, chats/add).
-- wrk -s unique_names.lua URL -- PATH TEMPLATE TAG
local headers = { ["Content-Type"] = "application/json" }
local path, template, tag
local threads = 0
local sent = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  path, template, tag = args[1], args[2], args[3]
end

function request()
  sent = sent + 1
  local name = string.format("%s-%d-%d", tag, tid or 0, sent)
  local body = (string.gsub(template, "NAME", name))
  return wrk.format("POST", path, headers, body)
end
