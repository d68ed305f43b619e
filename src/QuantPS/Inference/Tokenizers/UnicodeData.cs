using System.Globalization;
using System.Text;

namespace QuantPS.Inference.Tokenizers;

/// <summary>
/// The per-codepoint classes llama.cpp's pre-tokenizers test: one general category group
/// (\p{N}, \p{L}, \p{Z}, \p{M}, \p{P}, \p{S}, \p{C} or unassigned) plus White_Space.
/// </summary>
[Flags]
internal enum CodepointFlags : ushort
{
    None = 0,
    Undefined = 0x0001,
    Number = 0x0002,
    Letter = 0x0004,
    Separator = 0x0008,
    Mark = 0x0010,
    Punctuation = 0x0020,
    Symbol = 0x0040,
    Control = 0x0080,
    CategoryMask = 0x00FF,
    Whitespace = 0x0100,
}

/// <summary>
/// Unicode facts for tokenization, derived from .NET's own tables (CharUnicodeInfo, casing,
/// normalization) so no data file is shipped; tests check them on every vocabulary's cases.
/// </summary>
internal static class UnicodeData
{
    public const int MaxCodepoint = 0x10FFFF;
    public const int ReplacementCharacter = 0xFFFD;

    // llama.cpp's White_Space list: the ASCII controls 9..13, space, NEL, NBSP and the Z* spaces.
    private static readonly int[] WhitespaceCodepoints =
        [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000];

    // The BMP is looked up millions of times per megabyte: precompute it once.
    private static readonly Lazy<CodepointFlags[]> BmpFlags = new(BuildBmpFlags);
    private static readonly Lazy<int[]> BmpNfdFirst = new(BuildBmpNfdFirst);

    public static CodepointFlags Flags(int codepoint) =>
        (uint)codepoint <= 0xFFFF ? BmpFlags.Value[codepoint] : ComputeFlags(codepoint);

    public static bool IsWhitespace(int codepoint) => (Flags(codepoint) & CodepointFlags.Whitespace) != 0;

    /// <summary>The simple (one-to-one) lowercase mapping, as UnicodeData.txt gives it.</summary>
    public static int ToLower(int codepoint)
    {
        if (codepoint < 0x80)
        {
            return codepoint is >= 'A' and <= 'Z' ? codepoint + 32 : codepoint;
        }

        // U+0130 (İ) lowercases to 'i' in UnicodeData.txt; .NET's invariant casing keeps it.
        if (codepoint == 0x130)
        {
            return 'i';
        }

        return Rune.IsValid(codepoint) ? Rune.ToLowerInvariant(new Rune(codepoint)).Value : codepoint;
    }

    /// <summary>The first codepoint of the canonical decomposition: 'é' → 'e' (what BERT's accent stripping keeps).</summary>
    public static int NfdFirst(int codepoint)
    {
        if ((uint)codepoint <= 0xFFFF)
        {
            return BmpNfdFirst.Value[codepoint];
        }

        return ComputeNfdFirst(codepoint);
    }

    /// <summary>CJK ideographs (the ranges Kimi-K2's pre-tokenizer treats as Han).</summary>
    public static bool IsHan(int cp) =>
        cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF)
            or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF)
            or (>= 0x2CEB0 and <= 0x2EBEF) or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);

    /// <summary>
    /// The codepoints of a string. Unpaired surrogates become U+FFFD, exactly as UTF-8 encoding
    /// the string and decoding it the way llama.cpp does would give.
    /// </summary>
    public static int[] Codepoints(ReadOnlySpan<char> text)
    {
        var result = new int[text.Length];
        var n = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                result[n++] = char.ConvertToUtf32(c, text[i + 1]);
                i++;
            }
            else
            {
                result[n++] = char.IsSurrogate(c) ? ReplacementCharacter : c;
            }
        }

        return n == result.Length ? result : result[..n];
    }

    /// <summary>The codepoint at a UTF-16 index and how many chars it takes (an unpaired surrogate reads as U+FFFD).</summary>
    public static int CodepointAt(string text, int index, out int width)
    {
        var c = text[index];
        if (char.IsHighSurrogate(c) && index + 1 < text.Length && char.IsLowSurrogate(text[index + 1]))
        {
            width = 2;
            return char.ConvertToUtf32(c, text[index + 1]);
        }

        width = 1;
        return char.IsSurrogate(c) ? ReplacementCharacter : c;
    }

    /// <summary>Appends a codepoint to a UTF-16 builder.</summary>
    public static void Append(StringBuilder builder, int codepoint)
    {
        if (codepoint <= 0xFFFF)
        {
            builder.Append((char)codepoint);
        }
        else
        {
            builder.Append(char.ConvertFromUtf32(codepoint));
        }
    }

    /// <summary>Number of UTF-8 bytes for a codepoint.</summary>
    public static int Utf8Length(int codepoint) => codepoint switch
    {
        < 0x80 => 1,
        < 0x800 => 2,
        < 0x10000 => 3,
        _ => 4,
    };

    private static CodepointFlags[] BuildBmpFlags()
    {
        var table = new CodepointFlags[0x10000];
        for (var cp = 0; cp < table.Length; cp++)
        {
            table[cp] = ComputeFlags(cp);
        }

        return table;
    }

    private static CodepointFlags ComputeFlags(int codepoint)
    {
        if ((uint)codepoint > MaxCodepoint)
        {
            return CodepointFlags.Undefined;
        }

        var flags = CategoryFlag(CharUnicodeInfo.GetUnicodeCategory(codepoint));
        if (IsListedWhitespace(codepoint))
        {
            flags |= CodepointFlags.Whitespace;
        }

        return flags;
    }

    private static bool IsListedWhitespace(int codepoint) =>
        codepoint is >= 0x2000 and <= 0x200A || Array.IndexOf(WhitespaceCodepoints, codepoint) >= 0;

    private static CodepointFlags CategoryFlag(UnicodeCategory category) => category switch
    {
        UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CodepointFlags.Number,
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CodepointFlags.Letter,
        UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => CodepointFlags.Separator,
        UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => CodepointFlags.Mark,
        UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
            or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation
            or UnicodeCategory.OtherPunctuation => CodepointFlags.Punctuation,
        UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
            or UnicodeCategory.OtherSymbol => CodepointFlags.Symbol,
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse => CodepointFlags.Control,
        _ => CodepointFlags.Undefined,
    };

    private static int[] BuildBmpNfdFirst()
    {
        var table = new int[0x10000];
        for (var cp = 0; cp < table.Length; cp++)
        {
            table[cp] = ComputeNfdFirst(cp);
        }

        return table;
    }

    private static int ComputeNfdFirst(int codepoint)
    {
        // ASCII, surrogates and noncharacters have no decomposition (Normalize refuses lone surrogates).
        if (codepoint < 0xC0 || !Rune.IsValid(codepoint))
        {
            return codepoint;
        }

        try
        {
            var text = char.ConvertFromUtf32(codepoint);
            return text.IsNormalized(NormalizationForm.FormD) ? codepoint : char.ConvertToUtf32(text.Normalize(NormalizationForm.FormD), 0);
        }
        catch (ArgumentException)
        {
            // Noncharacters: .NET refuses to normalize them; they have no decomposition.
            return codepoint;
        }
    }
}
