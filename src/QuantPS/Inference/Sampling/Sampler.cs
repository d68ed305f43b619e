namespace QuantPS.Inference.Sampling;

/// <summary>
/// Picks the next token from logits with llama.cpp's sampler chain (llama-sampler.cpp): penalties over the recent
/// window, top-k, top-p, min-p, temperature, then the dist sampler's draw (softmax with a double sum, one
/// uniform from <see cref="Mt19937"/>, first candidate whose running sum reaches sum x uniform). Candidates are kept
/// sorted by logit, then by id; ties between equal logits may order differently from std::partial_sort.
/// Buffers are allocated once; sampling allocates nothing.
/// </summary>
public sealed class Sampler
{
    private readonly Candidate[] _candidates;
    private readonly int[] _counts;
    private readonly int[] _window;
    private readonly Mt19937 _rng;
    private readonly int[] _banned;
    private int _windowCount;
    private int _windowNext;
    private int _size;
    private bool _sorted;

    private struct Candidate
    {
        public int Id;
        public float Logit;
        public float P;
    }

    private static readonly Comparison<Candidate> ByLogitDescending = (a, b) =>
        a.Logit != b.Logit ? b.Logit.CompareTo(a.Logit) : a.Id.CompareTo(b.Id);

    /// <param name="vocabularySize">Logits per call.</param>
    /// <param name="options">The settings; validated here.</param>
    /// <param name="contextLength">The window when <see cref="SamplingOptions.RepeatLastN"/> is -1.</param>
    /// <param name="bannedTokens">Tokens never picked (llama.cpp's -inf logit bias, e.g. end-of-generation under --ignore-eos).</param>
    public Sampler(int vocabularySize, SamplingOptions options, int contextLength, IEnumerable<int>? bannedTokens = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabularySize, 1);
        if (options.RepeatLastN < -1 || !float.IsFinite(options.Temperature) || float.IsNaN(options.TopP) || float.IsNaN(options.MinP)
            || !float.IsFinite(options.RepeatPenalty) || options.RepeatPenalty <= 0 || options.MinKeep < 0)
        {
            throw new ArgumentException(
                "Sampling options out of range: temperature must be finite, repeat penalty positive, repeat-last-n -1 or more, min-keep 0 or more.",
                nameof(options));
        }

        Options = options;
        Seed = options.Seed ?? (uint)Random.Shared.Next();
        if (Seed == uint.MaxValue && options.Seed is null)
        {
            Seed = 0;
        }

        _rng = new Mt19937(Seed);
        _candidates = new Candidate[vocabularySize];
        _counts = new int[vocabularySize];
        _window = new int[Math.Max(0, options.RepeatLastN == -1 ? contextLength : options.RepeatLastN)];
        _banned = bannedTokens?.Where(t => (uint)t < (uint)vocabularySize).Distinct().ToArray() ?? [];
    }

    public SamplingOptions Options { get; }

    /// <summary>The seed in use (the given one, or the one drawn when none was given).</summary>
    public uint Seed { get; }

    /// <summary>Forgets the penalty window and re-seeds the generator: the next run replays the first.</summary>
    public void Reset()
    {
        Array.Clear(_counts);
        _windowCount = 0;
        _windowNext = 0;
        _rng.Seed(Seed);
    }

    /// <summary>Records a token (prompt or generated) in the penalty window.</summary>
    public void Accept(int token)
    {
        if (_window.Length == 0 || (uint)token >= (uint)_counts.Length)
        {
            return;
        }

        if (_windowCount == _window.Length)
        {
            _counts[_window[_windowNext]]--;
        }
        else
        {
            _windowCount++;
        }

        _window[_windowNext] = token;
        _counts[token]++;
        _windowNext = (_windowNext + 1) % _window.Length;
    }

    /// <summary>The next token for <paramref name="logits"/> (one per vocabulary entry).</summary>
    public int Sample(ReadOnlySpan<float> logits)
    {
        if (logits.Length != _candidates.Length)
        {
            throw new ArgumentException($"Expected {_candidates.Length} logits, got {logits.Length}.", nameof(logits));
        }

        for (var i = 0; i < logits.Length; i++)
        {
            _candidates[i] = new Candidate { Id = i, Logit = logits[i] };
        }

        foreach (var id in _banned)
        {
            _candidates[id].Logit = float.NegativeInfinity;
        }

        _size = logits.Length;
        _sorted = false;
        var o = Options;
        if (o.PenaltiesEnabled)
        {
            ApplyPenalties();
        }

        if (o.Temperature <= 0)
        {
            return Greedy();
        }

        TopK(o.TopK);
        TopP(o.TopP);
        MinP(o.MinP);
        for (var i = 0; i < _size; i++)
        {
            _candidates[i].Logit /= o.Temperature;
        }

        return Draw();
    }

    // Candidates are still in id order here, so the token id indexes them.
    private void ApplyPenalties()
    {
        var o = Options;
        for (var i = 0; i < _windowCount; i++)
        {
            var id = _window[i];
            var count = _counts[id];
            if (count <= 0 || _candidates[id].P != 0f)
            {
                continue; // P marks "already penalized" for tokens that occur more than once
            }

            ref var c = ref _candidates[id];
            c.Logit = c.Logit <= 0 ? c.Logit * o.RepeatPenalty : c.Logit / o.RepeatPenalty;
            c.Logit -= (count * o.FrequencyPenalty) + o.PresencePenalty;
            c.P = 1f;
        }

        for (var i = 0; i < _windowCount; i++)
        {
            _candidates[_window[i]].P = 0f;
        }
    }

    private int Greedy()
    {
        var best = 0;
        for (var i = 1; i < _size; i++)
        {
            if (_candidates[i].Logit > _candidates[best].Logit)
            {
                best = i;
            }
        }

        return _candidates[best].Id;
    }

    private void TopK(int k)
    {
        if (k <= 0)
        {
            return;
        }

        k = Math.Min(k, _size);
        if (!_sorted)
        {
            PartialSort(k);
        }

        _size = k;
    }

    private void TopP(float p)
    {
        if (p >= 1.0f)
        {
            return;
        }

        if (!_sorted)
        {
            PartialSort(_size);
        }

        Softmax();
        var sum = 0f;
        var last = _size;
        for (var i = 0; i < _size; i++)
        {
            sum += _candidates[i].P;
            if (sum >= p && i + 1 >= Options.MinKeep)
            {
                last = i + 1;
                break;
            }
        }

        _size = last;
    }

    private void MinP(float p)
    {
        if (p <= 0f || _size == 0)
        {
            return;
        }

        if (!_sorted)
        {
            // llama.cpp's unsorted path: filter in place, keeping the id order the draw will walk.
            var max = float.MinValue;
            for (var j = 0; j < _size; j++)
            {
                max = Math.Max(max, _candidates[j].Logit);
            }

            var threshold = max + MathF.Log(p);
            var kept = 0;
            for (var j = 0; j < _size; j++)
            {
                if (_candidates[j].Logit >= threshold)
                {
                    kept++;
                }
            }

            if (kept > 0 && kept >= Options.MinKeep)
            {
                var w = 0;
                for (var j = 0; j < _size; j++)
                {
                    if (_candidates[j].Logit >= threshold)
                    {
                        _candidates[w++] = _candidates[j];
                    }
                }

                _size = w;
                return;
            }

            PartialSort(_size);
        }

        var minLogit = _candidates[0].Logit + MathF.Log(p);
        var i = 1;
        for (; i < _size; i++)
        {
            if (_candidates[i].Logit < minLogit && i >= Options.MinKeep)
            {
                break;
            }
        }

        _size = i;
    }

    // llama_sampler_softmax_impl on sorted candidates: float sum.
    private void Softmax()
    {
        var max = _candidates[0].Logit;
        var sum = 0f;
        for (var i = 0; i < _size; i++)
        {
            var e = MathF.Exp(_candidates[i].Logit - max);
            _candidates[i].P = e;
            sum += e;
        }

        for (var i = 0; i < _size; i++)
        {
            _candidates[i].P /= sum;
        }
    }

    // llama_sampler_dist_apply: double running sum against sum x uniform.
    private int Draw()
    {
        if (_size == 1)
        {
            _rng.NextDouble(); // llama.cpp draws even then, keeping the stream aligned
            return _candidates[0].Id;
        }

        var max = _candidates[0].Logit;
        if (!_sorted)
        {
            for (var i = 1; i < _size; i++)
            {
                max = Math.Max(max, _candidates[i].Logit);
            }
        }

        double total = 0;
        for (var i = 0; i < _size; i++)
        {
            var e = MathF.Exp(_candidates[i].Logit - max);
            _candidates[i].P = e;
            total += e;
        }

        var target = total * _rng.NextDouble();
        double running = 0;
        for (var i = 0; i < _size; i++)
        {
            running += _candidates[i].P;
            if (running >= target)
            {
                return _candidates[i].Id;
            }
        }

        return _candidates[_size - 1].Id;
    }

    // The k best candidates to the front, sorted (logit descending, id ascending); the array shrinks to k.
    private void PartialSort(int k)
    {
        var span = _candidates.AsSpan(0, _size);
        if (k < _size && k <= 256)
        {
            // Selection: keep a sorted run of the k best seen so far (k is small; this avoids sorting the vocabulary).
            var kept = 0;
            for (var i = 0; i < _size; i++)
            {
                var c = span[i];
                if (kept == k && ByLogitDescending(c, span[k - 1]) >= 0)
                {
                    continue;
                }

                var j = kept == k ? k - 1 : kept++;
                while (j > 0 && ByLogitDescending(c, span[j - 1]) < 0)
                {
                    span[j] = span[j - 1];
                    j--;
                }

                span[j] = c;
            }
        }
        else
        {
            span.Sort(ByLogitDescending);
        }

        _size = k;
        _sorted = true;
    }
}
