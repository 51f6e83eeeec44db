// Reads Atom and RSS documents with ROME (Debian librome-java) and prints one
// JSON line per entry: what a consumer using ROME gets. Run by
// TestForeignReaders with "java Rome.java", the single-file source launcher.
//
// ROME 1.12 hands over the text of atom:content as written: content of a
// type that is neither text nor XML is in Base64 (RFC 4287 section 4.1.3.3
// rule 7), which a consumer decodes, as done here.

import com.rometools.rome.feed.WireFeed;
import com.rometools.rome.feed.atom.Content;
import com.rometools.rome.feed.atom.Entry;
import com.rometools.rome.feed.atom.Feed;
import com.rometools.rome.feed.rss.Channel;
import com.rometools.rome.feed.rss.Item;
import com.rometools.rome.io.WireFeedInput;
import com.rometools.rome.io.impl.Atom10Parser;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.List;

public class Rome {
    public static void main(String[] args) throws Exception {
        for (String path : args) {
            try {
                read(path);
            } catch (Exception e) {
                System.out.println("{\"doc\":" + q(path) + ",\"error\":" + q(e.toString()) + "}");
            }
        }
    }

    static void read(String path) throws Exception {
        String text = new String(java.nio.file.Files.readAllBytes(new File(path).toPath()), StandardCharsets.UTF_8);
        if (text.contains("<entry xmlns=")) {
            // An entry document: ROME reads it with Atom10Parser.parseEntry.
            Entry e = Atom10Parser.parseEntry(new java.io.StringReader(text), null, java.util.Locale.ROOT);
            entry(path, e);
            return;
        }
        WireFeed f = new WireFeedInput().build(new java.io.StringReader(text));
        if (f instanceof Feed) {
            for (Entry e : ((Feed) f).getEntries()) {
                entry(path, e);
            }
        } else {
            for (Item it : ((Channel) f).getItems()) {
                String cat = it.getCategories().isEmpty() ? null : it.getCategories().get(0).getValue();
                System.out.println("{\"doc\":" + q(path) + ",\"id\":" + q(it.getGuid() == null ? null : it.getGuid().getValue())
                        + ",\"title\":" + q(it.getTitle()) + ",\"category\":" + q(cat) + ",\"time\":" + q(time(it.getPubDate())) + "}");
            }
        }
    }

    static void entry(String path, Entry e) {
        String cat = e.getCategories().isEmpty() ? null : e.getCategories().get(0).getTerm();
        StringBuilder b = new StringBuilder();
        b.append("{\"doc\":").append(q(path)).append(",\"id\":").append(q(e.getId()))
                .append(",\"title\":").append(q(e.getTitle())).append(",\"category\":").append(q(cat))
                .append(",\"time\":").append(q(time(e.getUpdated())));
        List<Content> cs = e.getContents();
        if (!cs.isEmpty()) {
            Content c = cs.get(0);
            String type = c.getType();
            String value = c.getValue() == null ? "" : c.getValue();
            byte[] data = value.getBytes(StandardCharsets.UTF_8);
            if (base64(type)) {
                data = Base64.getMimeDecoder().decode(value);
            }
            b.append(",\"type\":").append(q(type)).append(",\"payload\":").append(q(Base64.getEncoder().encodeToString(data)));
        }
        System.out.println(b.append("}"));
    }

    // base64 tells whether RFC 4287 carries content of type t in Base64:
    // neither text, html, xhtml, text/* nor an XML media type.
    static boolean base64(String t) {
        if (t == null || t.equals("text") || t.equals("html") || t.equals("xhtml")) {
            return false;
        }
        String mt = t.split(";")[0].trim().toLowerCase(java.util.Locale.ROOT);
        return !(mt.startsWith("text/") || mt.endsWith("/xml") || mt.endsWith("+xml"));
    }

    static String time(Date d) {
        return d == null ? null : Instant.ofEpochMilli(d.getTime()).toString();
    }

    static String q(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }
}
