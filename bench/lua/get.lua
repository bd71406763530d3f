-- GETs one path with a bearer token.  wrk -s get.lua URL -- PATH TOKEN
local request_bytes

function init(args)
  request_bytes = wrk.format("GET", args[1], { ["Authorization"] = "Bearer " .. args[2] }, nil)
end

function request()
  return request_bytes
end
