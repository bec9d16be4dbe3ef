-- The nginx + Lua peer's placeholder injection for `jobs/create` (access phase).
-- Fetch (subrequest) -> cache (lua_shared_dict) -> cjson decode -> fill -> cjson encode ->
-- ngx.req.set_body_data; nginx then proxies the new body upstream.

local cjson = require("cjson.safe")
pcall(cjson.encode_escape_forward_slash, false)

local cache = ngx.shared.credentials
local PLACEHOLDER = "{{credential:([^/{}%s]+)/?([^{}%s]*)}}"
local TTL = 60

local function collect(value, names)
    if type(value) == "string" then
        for name in value:gmatch(PLACEHOLDER) do
            names[name] = true
        end
    elseif type(value) == "table" then
        for _, item in pairs(value) do
            collect(item, names)
        end
    end
end

local function lookup(name)
    local text = cache:get(name)
    if text == nil then
        local answer = ngx.location.capture("/_credential", {
            method = ngx.HTTP_POST,
            body = cjson.encode({ json = { name = name } }),
        })
        if answer.status ~= 200 then
            return nil
        end
        local doc = cjson.decode(answer.body)
        if type(doc) ~= "table" or type(doc.json) ~= "table" or doc.json.value == nil then
            return nil
        end
        text = cjson.encode(doc.json.value)
        cache:set(name, text, TTL)
    end
    return cjson.decode(text)
end

local function field(value, pointer)
    if pointer == "" then
        return value
    end
    for segment in pointer:gmatch("[^/]+") do
        if type(value) ~= "table" then
            return nil
        end
        value = value[segment]
    end
    return value
end

local function fill(value, values)
    if type(value) == "string" then
        return (value:gsub(PLACEHOLDER, function(name, pointer)
            local found = field(values[name], pointer)
            if type(found) == "table" then
                return cjson.encode(found)
            end
            return tostring(found)
        end))
    elseif type(value) == "table" then
        for key, item in pairs(value) do
            value[key] = fill(item, values)
        end
    end
    return value
end

ngx.req.read_body()
local raw = ngx.req.get_body_data()
if raw == nil then
    return ngx.exit(413)
end
local doc = cjson.decode(raw)
if type(doc) ~= "table" or type(doc.json) ~= "table" then
    return ngx.exit(400)
end
local params = doc.json.params
if type(params) ~= "table" then
    return
end
local names = {}
collect(params, names)
if next(names) == nil then
    return
end
-- Lookups yield (subrequests), which a gsub callback cannot: fetch first, then fill.
local values = {}
for name in pairs(names) do
    local value = lookup(name)
    if value == nil then
        return ngx.exit(502)
    end
    values[name] = value
end
doc.json.params = fill(params, values)
ngx.req.set_body_data(cjson.encode(doc))
