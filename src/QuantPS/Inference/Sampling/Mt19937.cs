namespace QuantPS.Inference.Sampling;

/// <summary>
/// The 32-bit Mersenne Twister exactly as C++'s std::mt19937 (same seeding, same stream), and libstdc++'s
/// std::uniform_real_distribution&lt;double&gt;(0, 1) on top of it, so a seed draws the numbers llama.cpp's
/// dist sampler draws.
/// </summary>
public sealed class Mt19937
{
    private const int N = 624;
    private const int M = 397;
    private readonly uint[] _state = new uint[N];
    private int _index;

    /// <summary>std::mt19937's default seed.</summary>
    public const uint DefaultSeed = 5489;

    public Mt19937(uint seed = DefaultSeed) => Seed(seed);

    public void Seed(uint seed)
    {
        _state[0] = seed;
        for (var i = 1; i < N; i++)
        {
            _state[i] = unchecked((1812433253u * (_state[i - 1] ^ (_state[i - 1] >> 30))) + (uint)i);
        }

        _index = N;
    }

    /// <summary>The next 32-bit output (operator() of std::mt19937).</summary>
    public uint Next()
    {
        if (_index >= N)
        {
            Twist();
        }

        var y = _state[_index++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }

    /// <summary>
    /// A double in [0, 1) as libstdc++'s generate_canonical&lt;double, 53&gt;: two outputs, the second the high word,
    /// summed in double and divided by 2^64 (clamped below 1).
    /// </summary>
    public double NextDouble()
    {
        double low = Next();
        double high = Next();
        var value = (low + (high * 4294967296.0)) / 18446744073709551616.0;
        return value >= 1.0 ? Math.BitDecrement(1.0) : value;
    }

    private void Twist()
    {
        for (var i = 0; i < N; i++)
        {
            var y = (_state[i] & 0x80000000u) | (_state[(i + 1) % N] & 0x7fffffffu);
            var next = _state[(i + M) % N] ^ (y >> 1);
            if ((y & 1) != 0)
            {
                next ^= 0x9908b0dfu;
            }

            _state[i] = next;
        }

        _index = 0;
    }
}
