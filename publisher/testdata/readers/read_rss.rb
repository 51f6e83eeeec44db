# Reads Atom and RSS documents with Ruby's standard rss library and prints
# one JSON line per entry: what a consumer using it gets. Run by
# TestForeignReaders with Debian's ruby.
require "base64"
require "json"
require "rss"
require "time"

# base64_type? tells whether RFC 4287 carries content of type t in Base64:
# neither text, html, xhtml, text/* nor an XML media type.
def base64_type?(t)
  return false if t.nil? || %w[text html xhtml].include?(t)
  mt = t.split(";").first.strip.downcase
  !(mt.start_with?("text/") || mt.end_with?("/xml") || mt.end_with?("+xml"))
end

ARGV.each do |path|
  begin
    doc = RSS::Parser.parse(File.read(path, encoding: "UTF-8"), false)
  rescue StandardError => e
    puts JSON.generate({doc: path, error: e.message})
    next
  end
  case doc
  when RSS::Rss
    doc.items.each do |item|
      puts JSON.generate({
        doc: path,
        id: item.guid&.content,
        title: item.title,
        category: item.categories.first&.content,
        time: item.pubDate&.utc&.iso8601(3),
      })
    end
  else
    entries = doc.is_a?(RSS::Atom::Feed) ? doc.entries : [doc]
    entries.each do |entry|
      out = {
        doc: path,
        id: entry.id.content,
        title: entry.title.content,
        category: entry.categories.first&.term,
        time: entry.updated.content.utc.iso8601(3),
      }
      if (c = entry.content)
        out[:type] = c.type
        # content is the text, Base64-decoded for types that are neither
        # text nor XML (RFC 4287 section 4.1.3.3), inline XML serialized.
        # rss 0.2.9 recognizes media types whose subtype is letters and
        # "+" only (its mime_split): application/octet-stream and the like
        # it leaves in Base64, which a consumer decodes.
        data = c.content.to_s
        if !c.inline_other_base64? && base64_type?(c.type)
          data = Base64.decode64(data)
        end
        out[:payload] = Base64.strict_encode64(data.b)
      end
      puts JSON.generate(out)
    end
  end
end
