using System.Text;

namespace QuantPS.Inference.Tokenizers;

/// <summary>
/// The BPE models that wrap plain BPE: "whitespace" (jina-embeddings-v2-base-zh: BPE on each
/// whitespace-separated word) and "hybriddna" (DNA inside &lt;dna&gt;…&lt;/dna&gt; as 6-mers).
/// </summary>
internal sealed partial class BytePairEncoder
{
    private const string DnaOpen = "<dna>";
    private const string DnaClose = "</dna>";
    private const string DnaUnknown = "<oov>";
    private const int DnaKmer = 6;

    // Converters suffix k-mer tokens with U+E000 so they differ from BPE tokens of the same letters.
    private const string KmerMarker = "\uE000";

    /// <summary>Appends the tokens of one fragment of text (no special tokens in it).</summary>
    public void EncodeFragment(string text, List<int> output)
    {
        switch (_vocabulary.ModelName)
        {
            case "whitespace":
                EncodeWhitespaceSeparated(text, output);
                break;
            case "hybriddna":
                EncodeWithDna(text, output);
                break;
            default:
                EncodeWords(text, output);
                break;
        }
    }

    private void EncodeWhitespaceSeparated(string text, List<int> output)
    {
        var segment = new StringBuilder();
        foreach (var cp in UnicodeData.Codepoints(text))
        {
            if (UnicodeData.IsWhitespace(cp))
            {
                Flush();
            }
            else
            {
                UnicodeData.Append(segment, _vocabulary.Lowercase ? UnicodeData.ToLower(cp) : cp);
            }
        }

        Flush();

        void Flush()
        {
            if (segment.Length > 0)
            {
                EncodeWords(segment.ToString(), output);
                segment.Clear();
            }
        }
    }

    private void EncodeWithDna(string text, List<int> output)
    {
        var lookup = _vocabulary.Lookup;
        var (open, close, unknown) = (lookup.Find(DnaOpen), lookup.Find(DnaClose), lookup.Find(DnaUnknown));
        if (open < 0 || close < 0 || unknown < 0)
        {
            EncodeWords(text, output);
            return;
        }

        var position = 0;
        while (position < text.Length)
        {
            var start = text.IndexOf(DnaOpen, position, StringComparison.Ordinal);
            if (start < 0)
            {
                EncodeWords(text[position..], output);
                return;
            }

            if (start > position)
            {
                EncodeWords(text[position..start], output);
            }

            output.Add(open);
            var contentStart = start + DnaOpen.Length;
            var end = text.IndexOf(DnaClose, contentStart, StringComparison.Ordinal);
            AppendKmers(text[contentStart..(end < 0 ? text.Length : end)], unknown, output);
            if (end < 0)
            {
                return;
            }

            output.Add(close);
            position = end + DnaClose.Length;
        }
    }

    // Upper-cased 6-mers; a short last one is padded with A; a k-mer not in the vocabulary is <oov>.
    private void AppendKmers(string sequence, int unknown, List<int> output)
    {
        var upper = new StringBuilder(sequence.Length);
        foreach (var c in sequence)
        {
            upper.Append(c is >= 'a' and <= 'z' ? (char)(c - 32) : c);
        }

        var bases = upper.ToString();
        for (var i = 0; i < bases.Length; i += DnaKmer)
        {
            var kmer = i + DnaKmer <= bases.Length ? bases.Substring(i, DnaKmer) : bases[i..].PadRight(DnaKmer, 'A');
            var id = _vocabulary.Lookup.Find(kmer + KmerMarker);
            output.Add(id >= 0 ? id : unknown);
        }
    }
}
