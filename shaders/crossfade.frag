#version 330 core
// The picture: previous and next plate (keyframes already upscaled and fitted to the
// output by upscale.frag) crossfaded, with beat and onset pulses, and a blackout.

in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_prev;     // plates: in screen orientation, output-sized or smaller
uniform sampler2D u_next;
uniform float u_mix;          // 0 = previous .. 1 = next; already eased by the caller
                              // (live/render/crossfade.py), blended linearly here
uniform float u_beat_pulse;   // pulse envelopes in [0, 1], decaying after each hit
uniform float u_onset_pulse;
uniform float u_blackout;     // 0 = picture .. 1 = black

// The look of the pulses. Edit and save during a show: the file is reloaded.
const float BEAT_ZOOM = 0.035;        // picture grows by this fraction on a full beat
const float BEAT_VIGNETTE = 0.45;     // corner darkening on a full beat
const float ONSET_BRIGHTNESS = 0.18;  // gain added on a full onset

void main() {
    float beat = clamp(u_beat_pulse, 0.0, 1.0);
    float onset = clamp(u_onset_pulse, 0.0, 1.0);

    // Plates smaller than the output are magnified here by the LINEAR filter. An
    // output-sized plate without a pulse is sampled at texel centres: it comes through exactly.
    vec2 uv = (v_uv - 0.5) / (1.0 + BEAT_ZOOM * beat) + 0.5;
    vec3 color = mix(texture(u_prev, uv).rgb, texture(u_next, uv).rgb, clamp(u_mix, 0.0, 1.0));

    float corner = length(v_uv - 0.5) * 1.41421356;  // 0 at the centre, 1 in the corners
    float vignette = 1.0 - BEAT_VIGNETTE * beat * smoothstep(0.35, 1.0, corner);
    float gain = (1.0 + ONSET_BRIGHTNESS * onset) * vignette * (1.0 - clamp(u_blackout, 0.0, 1.0));
    f_color = vec4(clamp(color * gain, 0.0, 1.0), 1.0);
}
