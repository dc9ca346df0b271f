// Catmull-Rom bicubic sampling from 9 bilinear taps instead of 16 point taps.
// Along each axis the two middle Catmull-Rom weights are positive, so one bilinear fetch
// placed between texels 0 and 1 at offset w2 / (w1 + w2) returns w1*t1 + w2*t2 exactly
// (up to the hardware's filter precision). Needs LINEAR filtering, no mipmaps and
// CLAMP_TO_EDGE, which the renderer sets on keyframe textures.
// `uv` is in texture space: (0,0) is the first texel row as stored (the image's top row).
vec3 sample_bicubic(sampler2D tex, vec2 uv) {
    vec2 size = vec2(textureSize(tex, 0));
    vec2 pos = uv * size - 0.5;          // in texel units, texel centres at integers
    vec2 base = floor(pos);
    vec2 f = pos - base;

    vec2 w0 = f * (-0.5 + f * (1.0 - 0.5 * f));
    vec2 w1 = 1.0 + f * f * (-2.5 + 1.5 * f);
    vec2 w2 = f * (0.5 + f * (2.0 - 1.5 * f));
    vec2 w3 = f * f * (-0.5 + 0.5 * f);
    vec2 w12 = w1 + w2;

    vec2 t0 = (base - 0.5) / size;                  // centre of texel base-1
    vec2 t12 = (base + 0.5 + w2 / w12) / size;      // between texels base and base+1
    vec2 t3 = (base + 2.5) / size;                  // centre of texel base+2

    return (textureLod(tex, vec2(t0.x, t0.y), 0.0).rgb * w0.x
          + textureLod(tex, vec2(t12.x, t0.y), 0.0).rgb * w12.x
          + textureLod(tex, vec2(t3.x, t0.y), 0.0).rgb * w3.x) * w0.y
         + (textureLod(tex, vec2(t0.x, t12.y), 0.0).rgb * w0.x
          + textureLod(tex, vec2(t12.x, t12.y), 0.0).rgb * w12.x
          + textureLod(tex, vec2(t3.x, t12.y), 0.0).rgb * w3.x) * w12.y
         + (textureLod(tex, vec2(t0.x, t3.y), 0.0).rgb * w0.x
          + textureLod(tex, vec2(t12.x, t3.y), 0.0).rgb * w12.x
          + textureLod(tex, vec2(t3.x, t3.y), 0.0).rgb * w3.x) * w3.y;
}
