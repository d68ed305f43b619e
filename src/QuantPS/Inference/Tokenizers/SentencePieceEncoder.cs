using System.Collections.Concurrent;

namespace QuantPS.Inference.Tokenizers;

/// <summary>
/// SentencePiece-style BPE as llama.cpp runs it for "llama" vocabularies: start from single
/// characters and keep merging the adjacent pair whose merged text is the best-scoring
/// vocabulary token (leftmost on ties); what never became a token falls back to byte tokens.
/// </summary>
/// <remarks>
/// llama.cpp runs the merge over a whole text at once. Where two neighbouring characters occur
/// next to each other in no token, no merge can ever join them, so the text is cut there and
/// each piece (in practice a word with its leading space) is merged alone and cached: merges in
/// different pieces never interact, so the result is identical, and much faster.
/// </remarks>
internal sealed class SentencePieceEncoder
{
    private const int CacheLimit = 200_000;

    private readonly Vocabulary _vocabulary;
    private readonly HashSet<long> _adjacentInTokens = [];
    private readonly ConcurrentDictionary<string, int[]> _pieceCache = new(StringComparer.Ordinal);

    public SentencePieceEncoder(Vocabulary vocabulary)
    {
        _vocabulary = vocabulary;
        foreach (var text in vocabulary.Texts)
        {
            var codepoints = UnicodeData.Codepoints(text);
            for (var i = 1; i < codepoints.Length; i++)
            {
                _adjacentInTokens.Add(PairKey(codepoints[i - 1], codepoints[i]));
            }
        }
    }

    /// <summary>Appends the tokens of <paramref name="text"/> (spaces already written as U+2581).</summary>
    public void Encode(string text, List<int> output)
    {
        var start = 0;
        var previous = -1;
        for (var i = 0; i < text.Length;)
        {
            var cp = UnicodeData.CodepointAt(text, i, out var width);
            if (previous >= 0 && !_adjacentInTokens.Contains(PairKey(previous, cp)))
            {
                EncodePiece(text[start..i], output);
                start = i;
            }

            previous = cp;
            i += width;
        }

        if (start < text.Length)
        {
            EncodePiece(text[start..], output);
        }
    }

    private static long PairKey(int left, int right) => ((long)left << 21) | (uint)right;

    private void EncodePiece(string piece, List<int> output)
    {
        if (!_pieceCache.TryGetValue(piece, out var tokens))
        {
            var merged = new List<int>(4);
            Merge(piece, merged);
            tokens = merged.ToArray();
            if (_pieceCache.Count >= CacheLimit)
            {
                _pieceCache.Clear();
            }

            _pieceCache[piece] = tokens;
        }

        output.AddRange(tokens);
    }

    private void Merge(string text, List<int> output)
    {
        if (text.Length == 0)
        {
            return;
        }

        var symbols = Symbols.FromCodepoints(text);
        var queue = new PriorityQueue<(int Left, int Right, int Length), (float Score, int Left)>(symbols.Count, ByScoreThenLeft.Instance);
        for (var i = 1; i < symbols.Count; i++)
        {
            TryAddPair(text, symbols, queue, i - 1, i);
        }

        while (queue.TryDequeue(out var pair, out _))
        {
            ref var left = ref symbols.Items[pair.Left];
            ref var right = ref symbols.Items[pair.Right];

            // A pair is stale once either side has been merged into something else.
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != pair.Length)
            {
                continue;
            }

            symbols.MergeRightInto(pair.Left);
            TryAddPair(text, symbols, queue, symbols.Items[pair.Left].Previous, pair.Left);
            TryAddPair(text, symbols, queue, pair.Left, symbols.Items[pair.Left].Next);
        }

        for (var i = 0; i != -1; i = symbols.Items[i].Next)
        {
            var symbol = symbols.Items[i];
            var span = text.AsSpan(symbol.Start, symbol.Length);
            var id = _vocabulary.Lookup.Find(span);
            if (id >= 0)
            {
                output.Add(id);
                continue;
            }

            // Every merged symbol is a vocabulary token, so only single characters get here
            // (llama.cpp's re-segmentation of merges never finds anything to split).
            AppendBytes(span, output);
        }
    }

    private void AppendBytes(ReadOnlySpan<char> text, List<int> output)
    {
        Span<byte> bytes = stackalloc byte[8];
        var count = System.Text.Encoding.UTF8.GetBytes(text, bytes);
        foreach (var b in bytes[..count])
        {
            var id = _vocabulary.ByteToken(b);
            if (id < 0)
            {
                // llama.cpp aborts here; an unknown token keeps the text usable.
                id = _vocabulary.Unknown >= 0 ? _vocabulary.Unknown
                    : throw new TokenizerException(TokenizerErrorKind.MissingSpecialToken,
                        $"The vocabulary has neither a token for '{text}' nor byte tokens (<0x{b:X2}>) to spell it with, nor an unknown token.", $"0x{b:X2}");
            }

            output.Add(id);
        }
    }

    private void TryAddPair(string text, Symbols symbols, PriorityQueue<(int, int, int), (float, int)> queue, int left, int right)
    {
        if (left < 0 || right < 0)
        {
            return;
        }

        var start = symbols.Items[left].Start;
        var length = symbols.Items[left].Length + symbols.Items[right].Length;
        var id = _vocabulary.Lookup.Find(text.AsSpan(start, length));
        if (id >= 0)
        {
            queue.Enqueue((left, right, length), (_vocabulary.Scores[id], left));
        }
    }

    /// <summary>Higher score first; on equal scores the leftmost pair.</summary>
    private sealed class ByScoreThenLeft : IComparer<(float Score, int Left)>
    {
        public static readonly ByScoreThenLeft Instance = new();

        public int Compare((float Score, int Left) x, (float Score, int Left) y)
        {
            var byScore = y.Score.CompareTo(x.Score);
            return byScore != 0 ? byScore : x.Left.CompareTo(y.Left);
        }
    }
}
