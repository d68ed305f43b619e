using System.Text;

namespace QuantPS.Inference.Tokenizers;

/// <summary>
/// RWKV "world" vocabularies: tokens are byte strings written with escapes (\t \n \r \xNN \\),
/// and text is cut greedily into the longest matching token.
/// </summary>
internal sealed class RwkvEncoder
{
    private readonly Vocabulary _vocabulary;
    private readonly ByteTrie _tokens = new();

    public RwkvEncoder(Vocabulary vocabulary)
    {
        _vocabulary = vocabulary;
        for (var id = 0; id < vocabulary.Count; id++)
        {
            _tokens.Insert(Unescape(vocabulary.Texts[id]), id);
        }
    }

    public void Encode(string text, List<int> output)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var position = 0;
        while (position < bytes.Length)
        {
            var node = _tokens.Child(ByteTrie.Root, bytes[position]);
            var (best, bestEnd) = (-1, -1);
            for (var end = position + 1; node != ByteTrie.None; end++)
            {
                if (_tokens.Value(node) != ByteTrie.None)
                {
                    (best, bestEnd) = (_tokens.Value(node), end);
                }

                node = end < bytes.Length ? _tokens.Child(node, bytes[end]) : ByteTrie.None;
            }

            // No token starts with this byte (llama.cpp writes its null unknown id here).
            if (best < 0)
            {
                output.Add(_vocabulary.Unknown);
                position++;
                continue;
            }

            output.Add(best);
            position = bestEnd;
        }
    }

    /// <summary>The bytes an escaped RWKV token text stands for.</summary>
    public static byte[] Unescape(string escaped)
    {
        var output = new List<byte>(escaped.Length);
        var (escaping, hexRemaining, hex) = (false, 0, 0);
        foreach (var b in Encoding.UTF8.GetBytes(escaped))
        {
            if (hexRemaining > 0)
            {
                hex = (hex << 4) + (b >= 'a' ? b - 'a' + 10 : b - '0');
                if (--hexRemaining == 0)
                {
                    output.Add((byte)hex);
                    hex = 0;
                }
            }
            else if (escaping)
            {
                escaping = false;
                switch (b)
                {
                    case (byte)'t': output.Add((byte)'\t'); break;
                    case (byte)'n': output.Add((byte)'\n'); break;
                    case (byte)'r': output.Add((byte)'\r'); break;
                    case (byte)'x': hexRemaining = 2; break;
                    default: output.Add(b); break;
                }
            }
            else if (b == '\\')
            {
                escaping = true;
            }
            else
            {
                output.Add(b);
            }
        }

        return output.ToArray();
    }
}
