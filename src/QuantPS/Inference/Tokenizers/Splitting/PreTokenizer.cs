namespace QuantPS.Inference.Tokenizers.Splitting;

/// <summary>
/// Cuts text into pre-tokens (words) by applying each pattern of a pre-tokenizer in turn to
/// the pieces the previous one left, as llama.cpp's unicode_regex_split does.
/// </summary>
internal sealed class PreTokenizer
{
    private readonly CustomSplitters.SegmentSplitter?[] _custom;
    private readonly RegexSplitStep?[] _regex;

    public PreTokenizer(PreTokenizerDefinition definition)
    {
        Definition = definition;
        var count = definition.Patterns.Length;
        _custom = new CustomSplitters.SegmentSplitter?[count];
        _regex = new RegexSplitStep?[count];
        for (var i = 0; i < count; i++)
        {
            _custom[i] = CustomSplitters.For(definition.Patterns[i]);
            _regex[i] = _custom[i] is null ? new RegexSplitStep(definition.Patterns[i]) : null;
        }
    }

    public PreTokenizerDefinition Definition { get; }

    /// <summary>The lengths (in codepoints) of the consecutive pre-tokens of the text.</summary>
    public List<int> Split(int[] codepoints, CodepointFlags[] flags)
    {
        var pieces = new List<int> { codepoints.Length };
        string? collapsed = null;
        for (var step = 0; step < _custom.Length; step++)
        {
            var next = new List<int>(pieces.Count + 16);
            if (_custom[step] is { } custom)
            {
                var start = 0;
                foreach (var length in pieces)
                {
                    custom(codepoints.AsSpan(start, length), flags.AsSpan(start, length), next);
                    start += length;
                }
            }
            else
            {
                var regex = _regex[step]!;
                var text = regex.Collapsed
                    ? collapsed ??= RegexSplitStep.CollapsedText(codepoints, flags)
                    : regex.WideText(codepoints, flags);
                regex.Split(text, pieces, next);
            }

            // llama.cpp re-runs a pattern through its regex engine when the fast path yields
            // nothing; that only happens when all pieces are empty, where the regex yields nothing too.
            pieces = next;
        }

        return pieces;
    }
}
