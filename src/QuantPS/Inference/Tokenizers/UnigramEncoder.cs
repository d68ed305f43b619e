using System.Buffers.Binary;
using System.Text;
using QuantPS.Gguf;

namespace QuantPS.Inference.Tokenizers;

/// <summary>
/// SentencePiece Unigram (T5) as llama.cpp runs it: normalize with the model's precompiled
/// character map, then choose by Viterbi the segmentation with the highest total score; runs of
/// characters no token covers become one unknown token.
/// </summary>
internal sealed class UnigramEncoder
{
    private const string CharsmapKey = "tokenizer.ggml.precompiled_charsmap";
    private const double UnknownPenalty = 10.0;
    private static readonly byte[] EscapedSpace = [0xE2, 0x96, 0x81];
    private static readonly byte[] Replacement = [0xEF, 0xBF, 0xBD];

    private readonly Vocabulary _vocabulary;
    private readonly ByteTrie _tokens = new();
    private readonly ByteTrie _userDefined = new();
    private readonly uint[] _charsmapNodes = [];
    private readonly byte[] _replacements = [];
    private readonly double _unknownScore;

    public UnigramEncoder(Vocabulary vocabulary)
    {
        _vocabulary = vocabulary;
        (_charsmapNodes, _replacements) = ReadCharsmap(vocabulary.Metadata);
        var minScore = float.MaxValue;
        for (var id = 0; id < vocabulary.Count; id++)
        {
            var bytes = Encoding.UTF8.GetBytes(vocabulary.Texts[id]);
            if (vocabulary.Has(TokenAttributes.Normal, id))
            {
                minScore = Math.Min(minScore, vocabulary.Scores[id]);
            }

            if (vocabulary.Has(TokenAttributes.Normal | TokenAttributes.UserDefined | TokenAttributes.Unused, id))
            {
                _tokens.Insert(bytes, id);
            }

            if (vocabulary.Has(TokenAttributes.UserDefined, id))
            {
                _userDefined.Insert(bytes, id);
            }
        }

        _unknownScore = minScore - UnknownPenalty;
    }

    public void Encode(string text, List<int> output)
    {
        var input = Normalize(Encoding.UTF8.GetBytes(text));
        var length = input.Length;
        if (length == 0)
        {
            return;
        }

        var unknown = _vocabulary.Unknown;
        var best = new (int Token, int From, double Score)[length + 1];
        Array.Fill(best, (unknown, 0, double.MinValue));
        best[0] = (unknown, 0, 0);
        for (var start = 0; start < length;)
        {
            var charLength = Math.Min(Utf8SequenceLength(input[start]), length - start);
            var here = best[start].Score;
            var coversChar = false;
            var node = _tokens.Child(ByteTrie.Root, input[start]);
            for (var end = start + 1; node != ByteTrie.None; end++)
            {
                var token = _tokens.Value(node);
                if (token != ByteTrie.None)
                {
                    coversChar |= end - start == charLength;

                    // User-defined tokens score 0 so they win over the (negative) log-probabilities.
                    var score = here + (_vocabulary.Has(TokenAttributes.UserDefined, token) ? 0.0 : _vocabulary.Scores[token]);
                    if (score > best[end].Score)
                    {
                        best[end] = (token, start, score);
                    }
                }

                node = end < length ? _tokens.Child(node, input[end]) : ByteTrie.None;
            }

            if (!coversChar && here + _unknownScore > best[start + charLength].Score)
            {
                best[start + charLength] = (unknown, start, here + _unknownScore);
            }

            start += charLength;
        }

        var reversed = new List<int>();
        var previousUnknown = false;
        for (var at = length; ; at = best[at].From)
        {
            var isUnknown = best[at].Token == unknown;
            if (!(previousUnknown && isUnknown))
            {
                reversed.Add(best[at].Token);
            }

            if (best[at].From == 0)
            {
                break;
            }

            previousUnknown = isUnknown;
        }

        reversed.Reverse();
        output.AddRange(reversed);
    }

    private byte[] Normalize(byte[] input)
    {
        var space = _vocabulary.EscapeWhitespaces ? EscapedSpace : [(byte)' '];
        var mergeSpaces = _vocabulary.RemoveExtraWhitespaces;
        var (spacePrepended, inWord) = (false, false);
        var output = new List<byte>(input.Length * 3);
        for (var offset = 0; offset < input.Length;)
        {
            var (piece, consumed) = NormalizePrefix(input, offset);
            foreach (var c in piece)
            {
                if (c != ' ')
                {
                    if (!inWord)
                    {
                        inWord = true;
                        if ((_vocabulary.AddSpacePrefix && !spacePrepended) || mergeSpaces)
                        {
                            output.AddRange(space);
                            spacePrepended = true;
                        }
                    }

                    output.Add(c);
                }
                else
                {
                    inWord = false;
                    if (!mergeSpaces)
                    {
                        output.AddRange(space);
                    }
                }
            }

            offset += consumed;
        }

        return output.ToArray();
    }

    // User-defined tokens pass unchanged; otherwise the longest charsmap match is replaced; otherwise one character as is.
    private (byte[] Piece, int Consumed) NormalizePrefix(byte[] input, int offset)
    {
        var rest = input.AsSpan(offset);
        var userDefined = _userDefined.LongestPathLength(rest);
        if (userDefined > 0)
        {
            return (rest[..userDefined].ToArray(), userDefined);
        }

        var (matched, replacementAt) = LongestCharsmapMatch(rest);
        if (matched > 0)
        {
            var end = Array.IndexOf(_replacements, (byte)0, replacementAt);
            if (end < 0)
            {
                throw new TokenizerException(TokenizerErrorKind.InvalidVocabulary, $"{CharsmapKey} has an unterminated replacement.", CharsmapKey);
            }

            return (_replacements[replacementAt..end], matched);
        }

        var charLength = Utf8SequenceLength(rest[0]);
        return charLength <= rest.Length && System.Text.Unicode.Utf8.IsValid(rest[..charLength])
            ? (rest[..charLength].ToArray(), charLength)
            : (Replacement, 1);
    }

    // Walks the XOR-compressed double array: BASE in bits 10-30 (shifted when bit 9), LCHECK in
    // bits 0-7 (with bit 31), LEAF in bit 8; a leaf's BASE leads to the replacement's offset.
    private (int Length, int ReplacementAt) LongestCharsmapMatch(ReadOnlySpan<byte> text)
    {
        if (_charsmapNodes.Length == 0)
        {
            return (0, 0);
        }

        var (length, at) = (0, 0);
        var node = Base(0);
        for (var i = 0; i < text.Length && text[i] != 0; i++)
        {
            node ^= text[i];
            if ((Node(node) & 0x800000FFu) != text[i])
            {
                break;
            }

            var isLeaf = ((Node(node) >> 8) & 1) != 0;
            node ^= Base(node);
            if (isLeaf)
            {
                (length, at) = (i + 1, (int)(Node(node) & 0x7FFFFFFFu));
            }
        }

        if (at >= _replacements.Length && length > 0)
        {
            throw new TokenizerException(TokenizerErrorKind.InvalidVocabulary, $"{CharsmapKey} points outside its replacements.", CharsmapKey);
        }

        return (length, at);
    }

    private uint Base(uint index)
    {
        var packed = Node(index);
        return (packed >> 10) << (int)((packed & (1u << 9)) >> 6);
    }

    private uint Node(uint index) =>
        index < _charsmapNodes.Length ? _charsmapNodes[index]
            : throw new TokenizerException(TokenizerErrorKind.InvalidVocabulary, $"{CharsmapKey} is damaged (index outside its array).", CharsmapKey);

    private static int Utf8SequenceLength(byte lead) => (lead >> 4) switch
    {
        12 or 13 => 2,
        14 => 3,
        15 => 4,
        _ => 1,
    };

    private static (uint[] Nodes, byte[] Replacements) ReadCharsmap(GgufMetadata metadata)
    {
        var array = metadata.GetArray(CharsmapKey);
        if (array is null)
        {
            return ([], []);
        }

        byte[] bytes = array.ElementType switch
        {
            GgufValueType.UInt8 => array.As<byte>(),
            GgufValueType.Int8 => array.As<sbyte>().Select(b => (byte)b).ToArray(),
            _ => throw new TokenizerException(TokenizerErrorKind.InvalidVocabulary, $"{CharsmapKey} must hold bytes, not {array.ElementType}.", CharsmapKey),
        };
        var blobSize = bytes.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(bytes) : uint.MaxValue;
        if (blobSize == uint.MaxValue || blobSize + 4L >= bytes.Length)
        {
            throw new TokenizerException(TokenizerErrorKind.InvalidVocabulary, $"{CharsmapKey} is too short for its own size field.", CharsmapKey);
        }

        var nodes = new uint[blobSize / 4];
        for (var i = 0; i < nodes.Length; i++)
        {
            nodes[i] = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4 + (i * 4)));
        }

        return (nodes, bytes[(4 + (int)blobSize)..]);
    }
}
