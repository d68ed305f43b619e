namespace QuantPS.Inference.Tokenizers.Splitting;

/// <summary>
/// Hand-written equivalents of the most used split patterns (GPT-2, Llama 3, Qwen 2 and
/// their relatives, Kimi-K2, AFMoE digits, newline runs). They give llama.cpp's pieces,
/// including where its fast paths differ from a true regex engine, and run in one pass.
/// </summary>
internal static class CustomSplitters
{
    public delegate void SegmentSplitter(ReadOnlySpan<int> codepoints, ReadOnlySpan<CodepointFlags> flags, List<int> output);

    /// <summary>The fast path for a pattern, or null when the pattern goes to the regex engine.</summary>
    public static SegmentSplitter? For(string pattern) => pattern switch
    {
        PreTokenizerCatalog.Gpt2Pattern => Gpt2,
        PreTokenizerCatalog.Llama3Pattern or PreTokenizerCatalog.Llama3CaseInsensitivePattern => Llama3,
        PreTokenizerCatalog.Qwen2Pattern => Qwen2,
        PreTokenizerCatalog.Qwen35Pattern => Qwen35,
        PreTokenizerCatalog.KimiK2Pattern => KimiK2,
        PreTokenizerCatalog.AfmoeDigitsPattern or PreTokenizerCatalog.TinyAyaDigitsPattern => DigitGroupsOfThree,
        PreTokenizerCatalog.NewlineRunsPattern => NewlineRuns,
        _ => null,
    };

    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
    private static void Gpt2(ReadOnlySpan<int> codepoints, ReadOnlySpan<CodepointFlags> flags, List<int> output)
    {
        var s = new SplitCursor(codepoints, flags, output);
        for (var pos = 0; pos < s.Length;)
        {
            var cp = s.Cp(pos);
            var contraction = s.ContractionLength(pos, ignoreCase: false);
            if (contraction > 0)
            {
                pos += s.Emit(pos + contraction);
                continue;
            }

            // The optional leading space belongs to the run that follows it.
            var lead = cp == ' ' ? 1 : 0;
            var f = s.Flags(pos + lead);
            if ((f & CodepointFlags.Letter) != 0)
            {
                pos += lead;
                while (s.IsLetter(pos))
                {
                    pos++;
                }

                s.Emit(pos);
                continue;
            }

            if ((f & CodepointFlags.Number) != 0)
            {
                pos += lead;
                while (s.IsNumber(pos))
                {
                    pos++;
                }

                s.Emit(pos);
                continue;
            }

            if (IsOther(f))
            {
                pos += lead;
                while (IsOther(s.Flags(pos)))
                {
                    pos++;
                }

                s.Emit(pos);
                continue;
            }

            var end = s.WhitespaceEnd(pos, newlineRuns: false);
            pos = end > pos ? end : pos + 1;
            s.Emit(pos);
        }
    }

    private static void Llama3(ReadOnlySpan<int> c, ReadOnlySpan<CodepointFlags> f, List<int> o) => Llama3Style(c, f, o, maxDigits: 3, marksAreLetters: false);

    private static void Qwen2(ReadOnlySpan<int> c, ReadOnlySpan<CodepointFlags> f, List<int> o) => Llama3Style(c, f, o, maxDigits: 1, marksAreLetters: false);

    private static void Qwen35(ReadOnlySpan<int> c, ReadOnlySpan<CodepointFlags> f, List<int> o) => Llama3Style(c, f, o, maxDigits: 1, marksAreLetters: true);

    // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    // Qwen 3.5 reads [\p{L}\p{M}] where the others read \p{L}.
    private static void Llama3Style(ReadOnlySpan<int> codepoints, ReadOnlySpan<CodepointFlags> flags, List<int> output, int maxDigits, bool marksAreLetters)
    {
        var s = new SplitCursor(codepoints, flags, output);
        var wordMask = marksAreLetters ? CodepointFlags.Letter | CodepointFlags.Mark : CodepointFlags.Letter;
        for (var pos = 0; pos < s.Length;)
        {
            var cp = s.Cp(pos);
            var f = s.Flags(pos);
            var contraction = s.ContractionLength(pos, ignoreCase: true);
            if (contraction > 0)
            {
                pos += s.Emit(pos + contraction);
                continue;
            }

            if (!(cp is '\r' or '\n' || (f & CodepointFlags.Number) != 0)
                && ((f & wordMask) != 0 || (s.Flags(pos + 1) & wordMask) != 0))
            {
                pos++;
                while ((s.Flags(pos) & wordMask) != 0)
                {
                    pos++;
                }

                s.Emit(pos);
                continue;
            }

            if ((f & CodepointFlags.Number) != 0)
            {
                var groupStart = pos;
                while (s.IsNumber(pos))
                {
                    if (++pos - groupStart >= maxDigits)
                    {
                        s.Emit(pos);
                        groupStart = pos;
                    }
                }

                s.Emit(pos);
                continue;
            }

            // The first test reads the current codepoint's flags, the loop the next ones': as llama.cpp.
            var notOther = CodepointFlags.Whitespace | CodepointFlags.Number | wordMask;
            var f2 = cp == ' ' ? s.Flags(pos + 1) : f;
            if ((f2 & notOther) == 0 && f != CodepointFlags.None)
            {
                pos += cp == ' ' ? 1 : 0;
                while ((f2 & notOther) == 0 && f2 != CodepointFlags.None)
                {
                    f2 = s.Flags(++pos);
                }

                while (s.Cp(pos) is '\r' or '\n')
                {
                    pos++;
                }

                s.Emit(pos);
                continue;
            }

            var end = s.WhitespaceEnd(pos, newlineRuns: true);
            pos = end > pos ? end : pos + 1;
            s.Emit(pos);
        }
    }

    // [\p{Han}]+ | letter words without Han, with an optional contraction | \p{N}{1,3} | the Llama 3 rest.
    private static void KimiK2(ReadOnlySpan<int> codepoints, ReadOnlySpan<CodepointFlags> flags, List<int> output)
    {
        var s = new SplitCursor(codepoints, flags, output);
        for (var pos = 0; pos < s.Length;)
        {
            var cp = s.Cp(pos);
            var f = s.Flags(pos);
            if (UnicodeData.IsHan(cp))
            {
                while (UnicodeData.IsHan(s.Cp(pos)))
                {
                    pos++;
                }

                s.Emit(pos);
                continue;
            }

            var canLead = !(cp is '\r' or '\n' || (f & (CodepointFlags.Letter | CodepointFlags.Number)) != 0);
            var isWordStart = (s.IsLetter(pos) && !UnicodeData.IsHan(cp)) || (canLead && IsNonHanLetter(s, pos + 1));
            if (isWordStart)
            {
                var hasLead = false;
                if (canLead)
                {
                    hasLead = true;
                    pos++;
                }

                var hasLetters = false;
                while (IsNonHanLetter(s, pos))
                {
                    hasLetters = true;
                    pos++;
                }

                if (hasLetters)
                {
                    pos += s.ContractionLength(pos, ignoreCase: true);
                    s.Emit(pos);
                    continue;
                }

                if (hasLead)
                {
                    pos--;
                }
            }

            if ((f & CodepointFlags.Number) != 0)
            {
                var groupStart = pos;
                while (s.IsNumber(pos))
                {
                    if (++pos - groupStart >= 3)
                    {
                        s.Emit(pos);
                        groupStart = pos;
                    }
                }

                s.Emit(pos);
                continue;
            }

            var f2 = cp == ' ' ? s.Flags(pos + 1) : f;
            var notOther = CodepointFlags.Whitespace | CodepointFlags.Letter | CodepointFlags.Number;
            if ((f2 & notOther) == 0 && f2 != CodepointFlags.None)
            {
                pos += cp == ' ' ? 1 : 0;
                while ((f2 & notOther) == 0 && f2 != CodepointFlags.None)
                {
                    f2 = s.Flags(++pos);
                }

                while (s.Cp(pos) is '\r' or '\n')
                {
                    pos++;
                }

                s.Emit(pos);
                continue;
            }

            var end = s.WhitespaceEnd(pos, newlineRuns: true);
            pos = end > pos ? end : pos + 1;
            s.Emit(pos);
        }
    }

    // Digit runs cut so that the groups of three align to the right: 1234567 → 1 234 567.
    private static void DigitGroupsOfThree(ReadOnlySpan<int> codepoints, ReadOnlySpan<CodepointFlags> flags, List<int> output)
    {
        var s = new SplitCursor(codepoints, flags, output);
        for (var pos = 0; pos < s.Length;)
        {
            if (!s.IsNumber(pos))
            {
                pos++;
                continue;
            }

            var start = pos;
            while (s.IsNumber(pos))
            {
                pos++;
            }

            var current = start + ((pos - start) % 3);
            if (current > start)
            {
                s.Emit(current);
            }

            while (current < pos)
            {
                current += 3;
                s.Emit(current);
            }
        }

        s.Emit(s.Length);
    }

    // [^\n]+|[\n]+
    private static void NewlineRuns(ReadOnlySpan<int> codepoints, ReadOnlySpan<CodepointFlags> flags, List<int> output)
    {
        var pos = 0;
        while (pos < codepoints.Length)
        {
            var start = pos;
            var isNewline = codepoints[pos] == '\n';
            while (pos < codepoints.Length && (codepoints[pos] == '\n') == isNewline)
            {
                pos++;
            }

            output.Add(pos - start);
        }
    }

    private static bool IsOther(CodepointFlags f) =>
        (f & (CodepointFlags.Whitespace | CodepointFlags.Letter | CodepointFlags.Number)) == 0 && f != CodepointFlags.None;

    private static bool IsNonHanLetter(SplitCursor s, int pos) => s.IsLetter(pos) && !UnicodeData.IsHan(s.Cp(pos));
}
