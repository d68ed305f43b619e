using System.Collections.Concurrent;
using System.Text;
using QuantPS.Gguf;
using QuantPS.Inference.Tokenizers.Splitting;

namespace QuantPS.Inference.Tokenizers;

/// <summary>
/// Byte-level BPE as llama.cpp runs it: the pre-tokenizer cuts text into words, each word is
/// written in GPT-2's byte characters (or kept as UTF-8 text for SentencePiece-style BPE), and
/// within a word the adjacent pair with the lowest merge rank is merged until none is left.
/// </summary>
internal sealed partial class BytePairEncoder
{
    private const int CacheLimit = 200_000;

    private readonly Vocabulary _vocabulary;
    private readonly PreTokenizer _preTokenizer;
    private readonly Dictionary<long, int> _rankByIds = [];
    private readonly Dictionary<string, int> _rankByTexts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]> _wordCache = new(StringComparer.Ordinal);

    public BytePairEncoder(Vocabulary vocabulary)
    {
        _vocabulary = vocabulary;
        _preTokenizer = new PreTokenizer(vocabulary.PreTokenizer!);
        LoadMerges();
    }

    /// <summary>Appends the tokens of plain text: pre-tokenize, then merge word by word.</summary>
    private void EncodeWords(string text, List<int> output)
    {
        var codepoints = UnicodeData.Codepoints(text);
        var flags = new CodepointFlags[codepoints.Length];
        for (var i = 0; i < flags.Length; i++)
        {
            flags[i] = UnicodeData.Flags(codepoints[i]);
        }

        var start = 0;
        var word = new StringBuilder();
        foreach (var length in _preTokenizer.Split(codepoints, flags))
        {
            word.Clear();
            AppendWord(word, codepoints.AsSpan(start, length));
            start += length;
            if (word.Length > 0)
            {
                EncodeWord(word.ToString(), output);
            }
        }
    }

    private void AppendWord(StringBuilder word, ReadOnlySpan<int> codepoints)
    {
        if (!_preTokenizer.Definition.ByteEncode)
        {
            foreach (var cp in codepoints)
            {
                UnicodeData.Append(word, cp);
            }

            return;
        }

        Span<byte> utf8 = stackalloc byte[4];
        foreach (var cp in codepoints)
        {
            var count = new Rune(cp).EncodeToUtf8(utf8);
            for (var i = 0; i < count; i++)
            {
                word.Append(ByteLevelEncoding.Encode(utf8[i]));
            }
        }
    }

    private void EncodeWord(string word, List<int> output)
    {
        if (_wordCache.TryGetValue(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }

        var tokens = new List<int>(4);
        MergeWord(word, tokens);
        if (_wordCache.Count >= CacheLimit)
        {
            _wordCache.Clear(); // text with unbounded vocabulary (hashes, numbers): start over rather than grow
        }

        _wordCache[word] = tokens.ToArray();
        output.AddRange(tokens);
    }

    private void MergeWord(string word, List<int> output)
    {
        var lookup = _vocabulary.Lookup;
        if ((_vocabulary.IgnoreMerges || IsNewlineRun(word)) && lookup.Find(word) is var whole and >= 0)
        {
            output.Add(whole);
            return;
        }

        var symbols = Symbols.FromCodepoints(word);
        var ids = new int[symbols.Count];
        for (var i = 0; i < symbols.Count; i++)
        {
            ids[i] = lookup.Find(word.AsSpan(symbols.Items[i].Start, symbols.Items[i].Length));
        }

        var queue = new PriorityQueue<(int Left, int Right, int Length), (int Rank, int Left)>();
        for (var i = 1; i < symbols.Count; i++)
        {
            TryAddPair(word, symbols, ids, queue, i - 1, i);
        }

        while (queue.TryDequeue(out var pair, out _))
        {
            var left = symbols.Items[pair.Left];
            var right = symbols.Items[pair.Right];
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != pair.Length)
            {
                continue;
            }

            symbols.MergeRightInto(pair.Left);
            ids[pair.Left] = lookup.Find(word.AsSpan(left.Start, pair.Length));
            TryAddPair(word, symbols, ids, queue, symbols.Items[pair.Left].Previous, pair.Left);
            TryAddPair(word, symbols, ids, queue, pair.Left, symbols.Items[pair.Left].Next);
        }

        for (var i = 0; i != -1; i = symbols.Items[i].Next)
        {
            if (ids[i] >= 0)
            {
                output.Add(ids[i]);
                continue;
            }

            AppendFallback(word.AsSpan(symbols.Items[i].Start, symbols.Items[i].Length), output);
        }
    }

    // Gemma 4 keeps a run of newlines whole when the vocabulary has it.
    private bool IsNewlineRun(string word) => _preTokenizer.Definition.Type == "gemma4" && word.AsSpan().TrimStart('\n').IsEmpty;

    // A piece that is not a token: llama.cpp looks up each of its UTF-8 bytes as a one-byte token
    // (GPT-2 style) or as <0xXX> (SentencePiece-style BPE), dropping bytes it cannot find.
    private void AppendFallback(ReadOnlySpan<char> piece, List<int> output)
    {
        Span<byte> bytes = stackalloc byte[piece.Length * 3];
        var count = Encoding.UTF8.GetBytes(piece, bytes);
        foreach (var b in bytes[..count])
        {
            var id = _preTokenizer.Definition.ByteEncode
                ? (b < 0x80 ? _vocabulary.Lookup.Find(((char)b).ToString()) : -1)
                : _vocabulary.Lookup.Find($"<0x{b:X2}>");
            if (id >= 0)
            {
                output.Add(id);
            }
        }
    }

    private void TryAddPair(string word, Symbols symbols, int[] ids, PriorityQueue<(int, int, int), (int, int)> queue, int left, int right)
    {
        if (left < 0 || right < 0)
        {
            return;
        }

        var rank = Rank(word, symbols.Items[left], symbols.Items[right], ids[left], ids[right]);
        if (rank >= 0)
        {
            queue.Enqueue((left, right, symbols.Items[left].Length + symbols.Items[right].Length), (rank, left));
        }
    }

    private int Rank(string word, Symbols.Symbol left, Symbols.Symbol right, int leftId, int rightId)
    {
        if (leftId >= 0 && rightId >= 0)
        {
            return _rankByIds.TryGetValue(PairKey(leftId, rightId), out var rank) ? rank : -1;
        }

        if (_rankByTexts.Count == 0)
        {
            return -1;
        }

        var key = string.Concat(word.AsSpan(left.Start, left.Length), " ", word.AsSpan(right.Start, right.Length));
        return _rankByTexts.TryGetValue(key, out var textRank) ? textRank : -1;
    }

    private static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    // Ranks by the token ids of both sides; merges naming text that is no token keep their text.
    private void LoadMerges()
    {
        var merges = _vocabulary.Metadata.GetArray(Vocabulary.MergesKey);
        if (merges is null)
        {
            if (_vocabulary.PreName == "kimi-k2")
            {
                return; // Kimi-K2 tokenizes without merges
            }

            throw new TokenizerException(TokenizerErrorKind.InvalidVocabulary,
                $"This BPE vocabulary has no {Vocabulary.MergesKey}: it cannot be tokenized. Reconvert the model with llama.cpp's converter.", Vocabulary.MergesKey);
        }

        if (merges.ElementType != GgufValueType.String)
        {
            throw new TokenizerException(TokenizerErrorKind.InvalidVocabulary,
                $"{Vocabulary.MergesKey} must be an array of strings, not of {merges.ElementType}.", Vocabulary.MergesKey);
        }

        var lookup = _vocabulary.Lookup;
        var rules = merges.As<string>();
        for (var rank = 0; rank < rules.Length; rank++)
        {
            var rule = rules[rank];
            var space = rule.Length > 1 ? rule.IndexOf(' ', 1) : -1;
            var (first, second) = space >= 0 ? (rule[..space], rule[(space + 1)..]) : (string.Empty, string.Empty);
            var (a, b) = (lookup.Find(first), lookup.Find(second));
            if (a >= 0 && b >= 0)
            {
                _rankByIds.TryAdd(PairKey(a, b), rank); // the first rule for a pair wins, as in llama.cpp
            }
            else
            {
                _rankByTexts.TryAdd(first + " " + second, rank);
            }
        }
    }
}
