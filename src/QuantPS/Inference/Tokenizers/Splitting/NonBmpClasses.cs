using System.Globalization;
using System.Text;

namespace QuantPS.Inference.Tokenizers.Splitting;

/// <summary>
/// Lets a UTF-16 regex engine treat codepoints above U+FFFF as single characters. The
/// codepoints a pattern names (singly or as range ends) cut the supplementary planes into
/// intervals; each interval is given one stand-in character from the surrogate block (which
/// never appears in split text, where unpaired surrogates are already U+FFFD), and the pattern
/// is rewritten to use the stand-ins.
/// </summary>
internal sealed class NonBmpClasses
{
    private const int FirstStandIn = 0xD800;
    private const int SupplementaryStart = 0x10000;
    private readonly int[] _boundaries; // sorted interval starts, the first is U+10000

    private NonBmpClasses(int[] boundaries) => _boundaries = boundaries;

    public static NonBmpClasses From(string pattern)
    {
        var cuts = new SortedSet<int> { SupplementaryStart };
        foreach (var (low, high) in SupplementaryRanges(pattern))
        {
            cuts.Add(Math.Max(low, SupplementaryStart));
            if (high < UnicodeData.MaxCodepoint)
            {
                cuts.Add(high + 1);
            }
        }

        if (cuts.Count > 0x800)
        {
            throw new TokenizerException(TokenizerErrorKind.InvalidVocabulary, "The split pattern names too many supplementary-plane characters to run.", pattern);
        }

        return new NonBmpClasses(cuts.ToArray());
    }

    public char CharFor(int codepoint)
    {
        var index = Array.BinarySearch(_boundaries, codepoint);
        return (char)(FirstStandIn + (index >= 0 ? index : ~index - 1));
    }

    /// <summary>The pattern with every supplementary codepoint (and range) replaced by stand-ins.</summary>
    public string RewritePattern(string pattern)
    {
        if (!pattern.Any(char.IsSurrogate))
        {
            return pattern;
        }

        var result = new StringBuilder(pattern.Length);
        var codepoints = UnicodeData.Codepoints(pattern);
        for (var i = 0; i < codepoints.Length; i++)
        {
            var cp = codepoints[i];
            var isRange = i + 2 < codepoints.Length && codepoints[i + 1] == '-' && (cp >= SupplementaryStart || codepoints[i + 2] >= SupplementaryStart);
            if (isRange)
            {
                AppendRange(result, cp, codepoints[i + 2]);
                i += 2;
            }
            else if (cp >= SupplementaryStart)
            {
                AppendEscaped(result, CharFor(cp));
            }
            else
            {
                UnicodeData.Append(result, cp);
            }
        }

        return result.ToString();
    }

    private void AppendRange(StringBuilder result, int low, int high)
    {
        if (low < SupplementaryStart)
        {
            AppendEscaped(result, (char)low);
            result.Append('-');
            AppendEscaped(result, '\uFFFF');
            low = SupplementaryStart;
        }

        AppendEscaped(result, CharFor(low));
        result.Append('-');
        AppendEscaped(result, CharFor(high));
    }

    private static void AppendEscaped(StringBuilder result, char c) =>
        result.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));

    // Supplementary codepoints a pattern names, as (low, high) pairs: "a-b" ranges and single ones.
    private static IEnumerable<(int Low, int High)> SupplementaryRanges(string pattern)
    {
        var codepoints = UnicodeData.Codepoints(pattern);
        for (var i = 0; i < codepoints.Length; i++)
        {
            var cp = codepoints[i];
            if (i + 2 < codepoints.Length && codepoints[i + 1] == '-' && codepoints[i + 2] >= SupplementaryStart)
            {
                yield return (cp, codepoints[i + 2]);
                i += 2;
            }
            else if (cp >= SupplementaryStart)
            {
                yield return (cp, cp);
            }
        }
    }
}
