using System.Text;
using System.Text.RegularExpressions;

namespace QuantPS.Inference.Tokenizers.Splitting;

/// <summary>
/// A split pattern without a hand-written fast path, run the way llama.cpp runs it: with an
/// ECMAScript regular expression over one character per codepoint. Patterns that use Unicode
/// classes (\p{L}...) see the "collapsed" text, where every non-ASCII codepoint stands as one
/// character for its class and the classes become those characters; the others see the
/// codepoints themselves with non-ASCII whitespace as \v, because ECMAScript's \s is ASCII.
/// </summary>
internal sealed class RegexSplitStep
{
    // The character standing for each class in collapsed text, and the ASCII members the class keeps.
    private static readonly (string Name, CodepointFlags Class)[] ClassNames =
    [
        ("\\p{N}", CodepointFlags.Number), ("\\p{L}", CodepointFlags.Letter), ("\\p{P}", CodepointFlags.Punctuation),
        ("\\p{M}", CodepointFlags.Mark), ("\\p{S}", CodepointFlags.Symbol), ("\\p{Lu}", CodepointFlags.Letter),
        ("\\p{Ll}", CodepointFlags.Letter), ("\\p{Lt}", CodepointFlags.Letter), ("\\p{Lm}", CodepointFlags.Letter),
        ("\\p{Lo}", CodepointFlags.Letter),
    ];

    private readonly Regex _regex;
    private readonly NonBmpClasses? _nonBmp;

    public RegexSplitStep(string pattern)
    {
        Collapsed = ClassNames.Any(c => pattern.Contains(c.Name, StringComparison.Ordinal));
        string translated;
        if (Collapsed)
        {
            if (pattern.Any(c => c >= 0x80))
            {
                throw new TokenizerException(TokenizerErrorKind.InvalidVocabulary,
                    $"The split pattern '{pattern}' mixes Unicode classes with non-ASCII characters, which llama.cpp cannot run either.", pattern);
            }

            translated = CollapseClasses(pattern);
        }
        else
        {
            _nonBmp = NonBmpClasses.From(pattern);
            translated = _nonBmp.RewritePattern(pattern);
        }

        _regex = new Regex(EndAnchorsToEndOfInput(translated), RegexOptions.ECMAScript | RegexOptions.Compiled);
    }

    /// <summary>True when the pattern runs on collapsed text (one character per Unicode class).</summary>
    public bool Collapsed { get; }

    /// <summary>One character per codepoint: what a non-collapsed pattern sees.</summary>
    public string WideText(ReadOnlySpan<int> codepoints, ReadOnlySpan<CodepointFlags> flags)
    {
        var chars = new char[codepoints.Length];
        for (var i = 0; i < chars.Length; i++)
        {
            var cp = codepoints[i];
            chars[i] = cp > 0x7F && (flags[i] & CodepointFlags.Whitespace) != 0 ? '\v'
                : cp <= 0xFFFF ? (char)cp
                : _nonBmp!.CharFor(cp);
        }

        return new string(chars);
    }

    /// <summary>One character per codepoint: ASCII as is, anything else as the character of its class.</summary>
    public static string CollapsedText(ReadOnlySpan<int> codepoints, ReadOnlySpan<CodepointFlags> flags)
    {
        var chars = new char[codepoints.Length];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = codepoints[i] < 0x80 ? (char)codepoints[i]
                : (flags[i] & CodepointFlags.Whitespace) != 0 ? '\v'
                : ClassChar(flags[i] & CodepointFlags.CategoryMask);
        }

        return new string(chars);
    }

    /// <summary>Cuts each segment into the matches and the text between them (llama.cpp keeps both).</summary>
    public void Split(string text, List<int> segments, List<int> output)
    {
        var start = 0;
        foreach (var length in segments)
        {
            var consumed = 0;
            for (var m = _regex.Match(text, start, length); m.Success; m = m.NextMatch())
            {
                var at = m.Index - start;
                if (at > consumed)
                {
                    output.Add(at - consumed);
                }

                output.Add(m.Length);
                consumed = at + m.Length;
            }

            if (consumed < length)
            {
                output.Add(length - consumed);
            }

            start += length;
        }
    }

    private static char ClassChar(CodepointFlags category) => category switch
    {
        CodepointFlags.Number => '\u00D1',
        CodepointFlags.Letter => '\u00D2',
        CodepointFlags.Punctuation => '\u00D3',
        CodepointFlags.Mark => '\u00D4',
        CodepointFlags.Symbol => '\u00D5',
        _ => '\u00D0',
    };

    private static string AsciiMembers(CodepointFlags category) => category switch
    {
        CodepointFlags.Number => "0-9",
        CodepointFlags.Letter => "A-Za-z",
        CodepointFlags.Punctuation => "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}",
        CodepointFlags.Symbol => "\\$\\+<->^`\\|\\~",
        _ => string.Empty,
    };

    // The same textual rewrite llama.cpp applies (including how it tracks being inside [...]),
    // so that a pattern means here exactly what it means there.
    private static string CollapseClasses(string pattern)
    {
        var result = new StringBuilder(pattern.Length * 2);
        var inside = false;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '[' && (i == 0 || pattern[i - 1] != '\\'))
            {
                result.Append('[');
                inside = true;
                continue;
            }

            if (inside && c == ']' && pattern[i - 1] != '\\')
            {
                result.Append(']');
                inside = false;
                continue;
            }

            if (c == '\\' && i + 3 < pattern.Length && pattern[i + 1] == 'p' && pattern[i + 2] == '{')
            {
                var close = pattern.IndexOf('}', i + 3);
                if (close >= 0 && close <= i + 10)
                {
                    var name = pattern[i..(close + 1)];
                    var known = Array.FindIndex(ClassNames, n => n.Name == name);
                    if (known >= 0)
                    {
                        var category = ClassNames[known].Class;
                        result.Append(inside ? string.Empty : "[").Append(ClassChar(category)).Append(AsciiMembers(category)).Append(inside ? string.Empty : "]");
                        i = close;
                        continue;
                    }
                }
            }

            result.Append(c);
        }

        return result.ToString();
    }

    // ECMAScript's $ is the end of the input; .NET's also matches before a final newline.
    private static string EndAnchorsToEndOfInput(string pattern)
    {
        var result = new StringBuilder(pattern.Length + 4);
        var inside = false;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                result.Append(c).Append(pattern[++i]);
                continue;
            }

            inside = c == '[' || (inside && c != ']');
            result.Append(c == '$' && !inside ? "\\z" : c.ToString());
        }

        return result.ToString();
    }
}
