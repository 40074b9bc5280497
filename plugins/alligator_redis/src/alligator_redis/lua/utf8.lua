-- Strict UTF-8, as Python's decoder reads it.
-- Shared helpers, pulled into a script by its `-- include: utf8.lua` line.

-- Strict UTF-8, as Python's decoder reads it (no surrogates, no overlong
-- forms): every valid multi-byte sequence becomes an ASCII 'x'; a byte >= 128
-- left over is one no sequence explains. The sequences never overlap, since
-- each starts with a lead byte no continuation byte equals.
local UTF8 = {
  '[\194-\223][\128-\191]',
  '\224[\160-\191][\128-\191]',
  '[\225-\236\238\239][\128-\191][\128-\191]',
  '\237[\128-\159][\128-\191]',
  '\240[\144-\191][\128-\191][\128-\191]',
  '[\241-\243][\128-\191][\128-\191][\128-\191]',
  '\244[\128-\143][\128-\191][\128-\191]',
}
local function utf8(s)
  if not string.find(s, '[\128-\255]') then return true end
  for _, sequence in ipairs(UTF8) do s = string.gsub(s, sequence, 'x') end
  return not string.find(s, '[\128-\255]')
end
