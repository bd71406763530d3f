-- POSTs one fixed JSON body.  wrk -s post.lua URL -- PATH BODY
local request_bytes

function init(args)
  request_bytes = wrk.format("POST", args[1], { ["Content-Type"] = "application/json" }, args[2])
end

function request()
  return request_bytes
end
