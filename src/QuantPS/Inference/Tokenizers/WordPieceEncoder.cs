using System.Text;

namespace QuantPS.Inference.Tokenizers;

/// <summary>
/// BERT's WordPiece as llama.cpp runs it: normalize (lowercase, strip accents), split on
/// whitespace and around punctuation and CJK ideographs, then cut each word greedily into the
/// longest vocabulary tokens. Word-initial tokens carry U+2581 in GGUF vocabularies (the "##"
/// of continuation pieces is gone); a word that cannot be cut entirely becomes [UNK].
/// </summary>
internal sealed class WordPieceEncoder
{
    private const char WordStart = '\u2581';
    private readonly Vocabulary _vocabulary;

    public WordPieceEncoder(Vocabulary vocabulary) => _vocabulary = vocabulary;

    public void Encode(string text, List<int> output)
    {
        foreach (var word in Words(text))
        {
            var marked = WordStart + word;
            var before = output.Count;
            for (var i = 0; i < marked.Length;)
            {
                var end = LongestTokenEnd(marked, i, out var id);
                if (end < 0)
                {
                    output.RemoveRange(before, output.Count - before); // the whole word or nothing
                    break;
                }

                output.Add(id);
                i = end;
            }

            if (output.Count == before)
            {
                output.Add(_vocabulary.Unknown);
            }
        }
    }

    private int LongestTokenEnd(string word, int start, out int id)
    {
        for (var end = Math.Min(word.Length, start + _vocabulary.MaxTokenLength); end > start; end--)
        {
            id = _vocabulary.Lookup.Find(word.AsSpan(start, end - start));
            if (id >= 0)
            {
                return end;
            }
        }

        id = -1;
        return -1;
    }

    private List<string> Words(string text)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        void Finish()
        {
            if (current.Length > 0)
            {
                words.Add(current.ToString());
                current.Clear();
            }
        }

        foreach (var original in UnicodeData.Codepoints(text))
        {
            var cp = _vocabulary.StripAccents ? UnicodeData.NfdFirst(original) : original;
            var flags = UnicodeData.Flags(cp);
            if ((flags & CodepointFlags.Whitespace) != 0)
            {
                Finish();
                continue;
            }

            if (cp is 0 or UnicodeData.ReplacementCharacter || (flags & CodepointFlags.Control) != 0
                || (_vocabulary.StripAccents && (flags & CodepointFlags.Mark) != 0))
            {
                continue;
            }

            var normalized = _vocabulary.Lowercase ? UnicodeData.ToLower(cp) : cp;
            if ((flags & CodepointFlags.Punctuation) != 0 || (cp < 0x7F && (flags & CodepointFlags.Symbol) != 0) || IsChineseCharacter(cp))
            {
                Finish();
                UnicodeData.Append(current, normalized);
                Finish();
            }
            else
            {
                UnicodeData.Append(current, normalized);
            }
        }

        Finish();
        return words;
    }

    // BERT's CJK ranges (with the extension range as Hugging Face's Rust code has it).
    private static bool IsChineseCharacter(int cp) =>
        cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF)
            or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B920 and <= 0x2CEAF)
            or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);
}
