#version 330 core
// Snapshot of the current crossfade, taken when a keyframe arrives mid-fade: it becomes
// the new previous plate, so the picture does not jump. Plates and target share one
// size, so every lookup lands on a texel centre and only the blend is rounded; only when
// the keyframe side changes is the target sized anew and the plates resampled into it.

in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_prev;
uniform sampler2D u_next;
uniform float u_mix;   // the mix the screen showed last

void main() {
    f_color = vec4(mix(texture(u_prev, v_uv).rgb, texture(u_next, v_uv).rgb, clamp(u_mix, 0.0, 1.0)), 1.0);
}
