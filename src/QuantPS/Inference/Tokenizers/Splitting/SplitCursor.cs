namespace QuantPS.Inference.Tokenizers.Splitting;

/// <summary>
/// One segment of text being cut into pre-tokens: codepoints and their flags, with reads past
/// either end answering "nothing" (so lookaheads stop at the segment's edge, as a regex over
/// the segment would), and the pieces emitted as lengths.
/// </summary>
internal ref struct SplitCursor
{
    public const int OutOfRange = -1;

    private readonly ReadOnlySpan<int> _codepoints;
    private readonly ReadOnlySpan<CodepointFlags> _flags;
    private readonly List<int> _output;
    private int _previousEnd;

    public SplitCursor(ReadOnlySpan<int> codepoints, ReadOnlySpan<CodepointFlags> flags, List<int> output)
    {
        _codepoints = codepoints;
        _flags = flags;
        _output = output;
        _previousEnd = 0;
    }

    public readonly int Length => _codepoints.Length;

    public readonly int Cp(int pos) => (uint)pos < (uint)_codepoints.Length ? _codepoints[pos] : OutOfRange;

    public readonly CodepointFlags Flags(int pos) => (uint)pos < (uint)_flags.Length ? _flags[pos] : CodepointFlags.None;

    public readonly bool IsLetter(int pos) => (Flags(pos) & CodepointFlags.Letter) != 0;

    public readonly bool IsNumber(int pos) => (Flags(pos) & CodepointFlags.Number) != 0;

    public readonly bool IsWhitespace(int pos) => (Flags(pos) & CodepointFlags.Whitespace) != 0;

    public readonly bool IsMark(int pos) => (Flags(pos) & CodepointFlags.Mark) != 0;

    /// <summary>Closes the piece that ends at <paramref name="end"/>; returns its length (0 emits nothing).</summary>
    public int Emit(int end)
    {
        var length = end - _previousEnd;
        if (length > 0)
        {
            _output.Add(length);
        }

        _previousEnd = end;
        return length;
    }

    /// <summary>The contraction ('s 't 're 've 'm 'll 'd) starting at pos, or 0; optionally case-insensitive.</summary>
    public readonly int ContractionLength(int pos, bool ignoreCase)
    {
        if (Cp(pos) != '\'' || pos + 1 >= Length)
        {
            return 0;
        }

        var next = Fold(Cp(pos + 1), ignoreCase);
        if (next is 's' or 't' or 'm' or 'd')
        {
            return 2;
        }

        if (pos + 2 < Length)
        {
            var nextNext = Fold(Cp(pos + 2), ignoreCase);
            if ((next == 'r' && nextNext == 'e') || (next == 'v' && nextNext == 'e') || (next == 'l' && nextNext == 'l'))
            {
                return 3;
            }
        }

        return 0;
    }

    /// <summary>
    /// The whitespace run at pos, for the patterns \s*[\r\n]+ (when <paramref name="newlineRuns"/>),
    /// \s+(?!\S) and \s+: returns where the piece ends, or pos when there is no whitespace.
    /// </summary>
    public readonly int WhitespaceEnd(int pos, bool newlineRuns)
    {
        var count = 0;
        var afterLastNewline = 0;
        while (IsWhitespace(pos + count))
        {
            var c = Cp(pos + count);
            if (c is '\r' or '\n')
            {
                afterLastNewline = pos + count + 1;
            }

            count++;
        }

        if (newlineRuns && afterLastNewline > 0)
        {
            return afterLastNewline;
        }

        // A run followed by a non-space gives its last space to the next piece.
        if (count > 1 && Cp(pos + count) != OutOfRange)
        {
            return pos + count - 1;
        }

        return pos + count;
    }

    private static int Fold(int codepoint, bool ignoreCase) => ignoreCase ? UnicodeData.ToLower(codepoint) : codepoint;
}
